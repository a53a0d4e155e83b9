"""Batch slots: at most the configured number, never more than the database
connections allow, and refused batches told to come back spread over a window
sized to the queue."""

from __future__ import annotations

import random

from central.throttle import BatchSlots


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_limit_is_capped_by_the_connections():
    assert BatchSlots(32, 20).limit == 16
    assert BatchSlots(8, 20).limit == 8
    assert BatchSlots(32, 3).limit == 1
    assert BatchSlots(32, None).limit == 32


def test_slots_are_taken_and_given_back():
    slots = BatchSlots(2)
    assert slots.take() and slots.take()
    assert not slots.take()
    slots.release()
    assert slots.take()


def test_retry_after_window_grows_with_the_queue():
    clock = Clock()
    slots = BatchSlots(1, span=10.0, clock=clock, rng=random.Random(3))
    assert slots.window() == 2  # nothing refused yet: the shortest window
    for _ in range(50):  # 5 batches/s finished
        assert slots.take()
        slots.release()
    assert slots.take()
    for _ in range(400):
        assert not slots.take()
    assert slots.window() == 80  # 400 waiting / 5 per second
    waits = [slots.retry_after() for _ in range(2000)]
    assert min(waits) == 1 and max(waits) == 80
    assert 30 < sum(waits) / len(waits) < 50  # spread evenly, not bunched at one value
    for _ in range(20000):
        slots.take()
    assert slots.window() == 120  # capped
    clock.t += 11  # the refusals age out of the span
    assert slots.window() == 2
