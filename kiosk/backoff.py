"""Exponential backoff: how long to wait after the n-th failure in a row.

One rule for every retry loop of the system: the uploader's (with full jitter,
and the server's ``Retry-After`` honoured) and the server's alert sender
(without jitter: its next try is a time stored in the database).
"""

from __future__ import annotations

import random
from collections.abc import Callable

#: Longest Retry-After honoured as given; longer ones are cut to this.
MAX_RETRY_AFTER = 3600.0


def exponential(base: float, cap: float, failures: int) -> float:
    """``base · 2^failures`` seconds, at most ``cap`` (``failures`` counts from 0)."""
    return min(cap, base * 2 ** min(max(failures, 0), 40))


class Backoff:
    """Exponential backoff with full jitter (delay = U(0, min(cap, base·2^n)))."""

    def __init__(self, base: float = 1.0, cap: float = 180.0, rng: Callable[[], float] = random.random):
        self.base = base
        self.cap = cap
        self.rng = rng
        self.failures = 0
        self.server_asked = False  # the last failure came with a Retry-After

    def ceiling(self) -> float:
        """The largest delay the next failure can draw."""
        return exponential(self.base, self.cap, self.failures)

    def failure(self, retry_after: float | None = None) -> float:
        """Record a failure and return how long to wait before the next try."""
        ceiling = self.ceiling()
        self.failures += 1
        self.server_asked = retry_after is not None
        if retry_after is not None:
            # The server said when; a little jitter keeps a hall of devices apart.
            wait = min(max(retry_after, 0.0), MAX_RETRY_AFTER)
            return wait + self.rng() * min(1.0, 0.1 * wait)
        return self.rng() * ceiling

    def success(self) -> None:
        self.failures = 0
        self.server_asked = False
