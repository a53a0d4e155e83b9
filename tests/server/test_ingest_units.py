"""The ingest path's pieces on their own: the stored payload hash must never
change between versions (a resend after an upgrade would turn into a
conflict), times parse to naive UTC, text checks, and a SQLite ingest that
opens one case with one transition per bad rating."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from central import ingest as ing
from central import wire
from central.auth import DeviceIdentity
from central.db import case_transitions, cases, events, make_engine, upgrade
from testkit.server import rating_event, unrated_event

EVENT = {"id": "01a232e3-210b-7f2c-89bc-01f2e695172a", "type": "rating",
         "created_at": "2026-12-01T08:00:02.000Z", "clock_synced": True, "boot_id": "b",
         "mono_ms": 1002000, "satisfaction": 1, "source": "touch", "channel": 4, "window_no": "A01",
         "section": "综合服务区", "staff_no": "1001", "staff_name": "张三", "project_no": None,
         "ticket_no": None, "prompt_id": None, "misuse": False}


def test_the_payload_hash_is_pinned():
    # sha256 of the sorted-key, compact, ASCII-escaped JSON: fixed for good
    assert wire.canonical_hash(EVENT) == "e31486d0558bc4d901d4ee36274218269a2f38e6d2bd3b00029953daa76f94cc"
    reordered = dict(reversed(list(EVENT.items())))
    assert wire.canonical_hash(reordered) == wire.canonical_hash(EVENT)
    assert wire.canonical_hash(EVENT | {"staff_name": "李四"}) != wire.canonical_hash(EVENT)


@pytest.mark.parametrize("text, expected", [
    ("2026-12-01T08:15:02.123Z", datetime(2026, 12, 1, 8, 15, 2, 123000)),
    ("2026-12-01T08:15:02Z", datetime(2026, 12, 1, 8, 15, 2)),
    ("2026-12-01T16:15:02.5+08:00", datetime(2026, 12, 1, 8, 15, 2, 500000)),
    ("2026-12-01T00:15:02-08:00", datetime(2026, 12, 1, 8, 15, 2)),
    ("2026-12-01T08:15:02.123456789Z", datetime(2026, 12, 1, 8, 15, 2, 123456)),
])
def test_times_become_naive_utc(text, expected):
    assert wire.parse_time(text) == expected


@pytest.mark.parametrize("text, message", [
    ("2026-12-01 08:15:02Z", "expected an RFC 3339"),
    ("2026-12-01T08:15:02", "expected an RFC 3339"),
    ("2026-13-01T08:15:02Z", "not a valid date/time"),
    ("1970-01-01T00:00:00Z", "out of range"),
    (1764576902, "expected an RFC 3339"),
])
def test_bad_times_name_the_field(text, message):
    with pytest.raises(wire.EventError, match=message) as err:
        wire.parse_time(text)
    assert str(err.value).startswith("created_at:")


def test_text_fields_take_chinese_and_refuse_broken_text():
    assert wire.validate_event(EVENT).fields["section"] == "综合服务区"
    for value, message in (("x\ud800", "lone surrogate"), ("a\x00", "NUL"), ("窗" * 33, "longer than 32"),
                           (7, "expected a string")):
        with pytest.raises(wire.EventError, match=message) as err:
            wire.validate_event(EVENT | {"window_no": value})
        assert str(err.value).startswith("window_no:")
    assert wire.validate_event(EVENT | {"project_no": "2026A0001"}).fields["project_no"] == "2026A0001"
    with pytest.raises(wire.EventError, match="project_no: expected a string or null"):
        wire.validate_event(EVENT | {"project_no": 5})
    with pytest.raises(wire.EventError, match="staff_name: missing"):
        wire.validate_event({k: v for k, v in EVENT.items() if k != "staff_name"})


def test_one_case_and_one_open_transition_per_bad_rating(tmp_path):
    url = f"sqlite:///{tmp_path / 'central.db'}"
    upgrade(url)
    engine = make_engine(url)
    dev = DeviceIdentity("dev-1", "A01", "综合服务区", "1001")
    evs = [rating_event(level) for level in (1, 2, 3, 4, 5, 1)] + [rating_event(1, misuse=True), unrated_event()]
    batch = json.loads(json.dumps({"schema": 1, "device_id": "dev-1", "boot_id": "x", "sent_at": "x",
                                   "sent_mono_ms": 0, "events": evs}))
    now = datetime(2026, 12, 1, 9, 0)
    results = ing.ingest(engine, dev, batch, received_at=now, tz=ZoneInfo("Asia/Shanghai"), rectify_days=5)
    assert [r.status for r in results] == ["accepted"] * len(evs)
    with engine.connect() as conn:
        opened = {r.rating_id: r.id for r in conn.execute(sa.select(cases.c.rating_id, cases.c.id))}
        trans = conn.execute(sa.select(case_transitions.c.case_id, case_transitions.c.from_state,
                                       case_transitions.c.to_state, case_transitions.c.actor,
                                       case_transitions.c.at)).all()
        stored = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar()
    bad = {e["id"] for e in evs if e["type"] == "rating" and e["satisfaction"] <= 2 and not e["misuse"]}
    assert set(opened) == bad
    assert sorted(t.case_id for t in trans) == sorted(opened.values())
    assert {(t.from_state, t.to_state, t.actor, t.at) for t in trans} == {(None, "open", "system", now)}
    assert stored == len(evs)
    engine.dispose()
