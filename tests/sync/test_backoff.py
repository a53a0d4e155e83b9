"""The retry schedule, driven directly: exponential, full jitter, capped,
back to full speed on success, Retry-After honoured."""

from __future__ import annotations

import random

from kiosk.backoff import MAX_RETRY_AFTER, Backoff
from sync.client import parse_retry_after


def test_ceiling_doubles_up_to_the_cap():
    b = Backoff(base=1.0, cap=180.0, rng=lambda: 1.0)
    delays = [b.failure() for _ in range(12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 180, 180, 180, 180]


def test_full_jitter_spans_zero_to_ceiling():
    rng = random.Random(7)
    b = Backoff(base=2.0, cap=60.0, rng=rng.random)
    for n in range(50):
        ceiling = min(60.0, 2.0 * 2 ** n)
        d = b.failure()
        assert 0.0 <= d <= ceiling
    # Jitter really spreads: many draws at the cap are not all alike.
    draws = {round(b.failure(), 3) for _ in range(20)}
    assert len(draws) > 10 and max(draws) <= 60.0


def test_success_returns_to_full_speed():
    b = Backoff(base=1.0, cap=180.0, rng=lambda: 1.0)
    for _ in range(9):
        b.failure()
    assert b.ceiling() == 180.0
    b.success()
    assert b.failures == 0
    assert b.failure() == 1.0


def test_retry_after_overrides_the_jitter_and_is_bounded():
    b = Backoff(base=1.0, cap=180.0, rng=lambda: 0.0)
    assert b.failure(retry_after=30) == 30.0
    b2 = Backoff(rng=lambda: 1.0)
    assert b2.failure(retry_after=30) == 31.0  # at most +10%, at most 1 s of jitter
    assert b2.failure(retry_after=10 ** 9) <= MAX_RETRY_AFTER + 1
    assert b2.failure(retry_after=-5) == 0.0


def test_huge_failure_counts_do_not_overflow():
    b = Backoff(base=1.0, cap=300.0, rng=lambda: 1.0)
    b.failures = 10_000
    assert b.failure() == 300.0


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_796_083_200.0  # 2026-12-01T00:00:00Z
    assert parse_retry_after("Tue, 01 Dec 2026 00:01:00 GMT", now) == 60.0
    assert parse_retry_after("Mon, 30 Nov 2026 00:00:00 GMT", now) == 0.0
