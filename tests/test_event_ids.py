"""Event ids are UUID version 7: the creation time first, so ids made one
after another sit together in the server's indexes."""

from __future__ import annotations

import uuid

from kiosk.clock import FakeClock
from kiosk.events import Window, event_id, rating
from kiosk.levels import LEVELS


def test_an_event_id_is_a_uuid7_carrying_the_millisecond():
    u = uuid.UUID(event_id(1764576902.123456))
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert u.int >> 80 == 1764576902123


def test_ids_sort_by_time_and_do_not_repeat():
    ids = [event_id(1764576902 + i / 10) for i in range(5000)]
    assert ids == sorted(ids)
    same_ms = {event_id(1764576902.0) for _ in range(20000)}
    assert len(same_ms) == 20000  # 74 random bits inside one millisecond


def test_a_clock_before_1970_still_makes_a_valid_id():
    assert uuid.UUID(event_id(-5.0)).int >> 80 == 0


def test_rating_events_take_their_id_from_the_event_time():
    clock = FakeClock(boot_id="b")
    window = Window(window_no="A01", section="综合服务区", staff_no="1001", staff_name="张三", channel=4)
    ev = rating(clock, LEVELS[0], "touch", window)
    assert uuid.UUID(ev["id"]).int >> 80 == int(clock.time() * 1000)
    later = []
    for _ in range(3):
        clock.advance(1.0)
        later.append(rating(clock, LEVELS[0], "touch", window))
    assert [e["id"] for e in later] == sorted(e["id"] for e in later)
