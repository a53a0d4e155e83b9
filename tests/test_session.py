"""Every transition of the rating session, with a fake clock (no sleeps)."""

import pytest

from kiosk.buffer import Buffer
from kiosk.clock import FakeClock
from kiosk.events import Window
from kiosk.exceptions import BufferWriteError, SessionError
from kiosk.levels import Level
from kiosk.session import PROBE_INTERVAL, Session, Settings, State

WIN = Window("A01", "综合服务区", "1001", "张三", 4)


class Sink:
    """The real buffer, with a switch that makes writes fail like a full disk."""

    def __init__(self, path):
        self.buffer = Buffer(path)
        self.broken = False

    def append(self, event):
        if self.broken:
            raise BufferWriteError("buffer is full (test)")
        return self.buffer.append(event)

    def probe(self):
        if self.broken:
            raise BufferWriteError("buffer is full (test)")

    def events(self, type_=None):
        import json
        rows = self.buffer.conn.execute("SELECT payload FROM events ORDER BY seq").fetchall()
        evs = [json.loads(r[0]) for r in rows]
        return [e for e in evs if type_ is None or e["type"] == type_]


@pytest.fixture
def sink(tmp_path):
    return Sink(tmp_path / "b.db")


def make(sink, clock, **kw):
    views = []
    s = Session(Settings(window=WIN, **kw), sink, clock, on_change=views.append)
    return s, views


# --- free mode -----------------------------------------------------------------

def test_free_good_rating_goes_to_thanks_then_back(sink, clock):
    s, views = make(sink, clock, cooldown_seconds=0)
    assert s.state is State.RATING
    out = s.press(0, "touch")
    assert out.accepted and out.ack and out.level is Level.VERY_SATISFIED
    assert s.state is State.THANKS and s.view().level is Level.VERY_SATISFIED
    (ev,) = sink.events("rating")
    assert ev["satisfaction"] == 5 and ev["misuse"] is False and ev["source"] == "touch"
    assert ev["window_no"] == "A01" and ev["staff_no"] == "1001" and ev["staff_name"] == "张三"
    assert ev["channel"] == 4 and ev["prompt_id"] is None
    assert ev["clock_synced"] is True and ev["boot_id"] == "test-boot" and ev["mono_ms"] == 1_000_000
    assert ev["created_at"].endswith("Z")
    clock.advance(2.9)
    s.tick()
    assert s.state is State.THANKS
    clock.advance(0.2)
    s.tick()
    assert s.state is State.RATING
    assert [v.state for v in views] == [State.THANKS, State.RATING]


@pytest.mark.parametrize("position, wire", [(3, 2), (4, 1)])
def test_bad_rating_always_offers_reasons(sink, clock, position, wire):
    s, _ = make(sink, clock)
    out = s.press(position, "touch")
    assert out.accepted and out.event["satisfaction"] == wire
    assert s.state is State.REASONS
    assert [r.code for r in s.view().level.reasons][:1] == [str(wire * 100 + (7 if wire == 2 else 8))]


def test_reasons_submit_stores_a_detail_then_thanks(sink, clock):
    s, _ = make(sink, clock)
    rating = s.press(4, "touch").event
    detail = s.submit_reasons(["115", "113"], comment="  等了很久 ", phone="13812345678")
    assert s.state is State.THANKS
    (stored,) = sink.events("rating_detail")
    assert stored == detail
    assert detail["rating_id"] == rating["id"]
    assert detail["reasons"] == ["115", "113"] and detail["comment"] == "等了很久"
    assert detail["phone"] == "13812345678"


def test_reasons_of_another_level_are_refused_and_the_step_stays(sink, clock):
    s, _ = make(sink, clock)
    s.press(3, "touch")
    with pytest.raises(ValueError, match="belongs to level 1"):
        s.submit_reasons(["115"])
    assert s.state is State.REASONS
    assert sink.events("rating_detail") == []


def test_reasons_skip_and_empty_submit_store_nothing(sink, clock):
    s, _ = make(sink, clock)
    s.press(4, "touch")
    s.skip_reasons()
    assert s.state is State.THANKS
    clock.advance(10)
    s.tick()
    s.press(4, "touch")
    assert s.submit_reasons([]) is None
    assert s.state is State.THANKS
    assert sink.events("rating_detail") == []
    with pytest.raises(SessionError):
        s.skip_reasons()


def test_reasons_timeout_keeps_selected_chips(sink, clock):
    s, _ = make(sink, clock, reasons_timeout_seconds=20)
    s.press(3, "touch")
    s.select_reasons(["213"])
    assert s.view().reasons_draft == ("213",)
    clock.advance(19.9)
    s.tick()
    assert s.state is State.REASONS
    clock.advance(0.2)
    s.tick()
    assert s.state is State.THANKS
    assert sink.events("rating_detail")[0]["reasons"] == ["213"]


def test_reasons_timeout_without_selection_stores_nothing(sink, clock):
    s, _ = make(sink, clock)
    s.press(4, "touch")
    clock.advance(20.1)
    s.tick()
    assert s.state is State.THANKS and sink.events("rating_detail") == []


def test_reasons_for_all_levels(sink, clock):
    s, _ = make(sink, clock, reasons_for="all")
    s.press(0, "touch")
    assert s.state is State.REASONS
    s.submit_reasons(["517"])
    assert sink.events("rating_detail")[0]["reasons"] == ["517"]


def test_cooldown_press_is_stored_flagged_never_dropped(sink, clock):
    s, _ = make(sink, clock, cooldown_seconds=5, thanks_seconds=3)
    assert s.press(0, "touch").accepted
    clock.advance(3.5)
    s.tick()
    assert s.state is State.THANKS, "thanks lasts until the cooldown is over"
    out = s.press(4, "gpio")
    assert out.stored and not out.accepted and not out.ack and out.reason == "cooldown"
    view = s.view()
    assert view.state is State.THANKS and view.misuse_notice, "said, never thanked as a new rating"
    assert view.level is Level.VERY_SATISFIED, "the thanks is still the one for the counted rating"
    clock.advance(1.5)  # exactly 5 s after the counted rating
    s.tick()
    assert s.state is State.RATING and s.view().cooldown_left is None and not s.view().misuse_notice
    out = s.press(1, "touch")
    assert out.accepted
    flags = [(e["satisfaction"], e["misuse"]) for e in sink.events("rating")]
    assert flags == [(5, False), (1, True), (4, False)]


@pytest.mark.parametrize("thanks, cooldown", [(3, 5), (5, 5), (6, 5), (1, 30)])
def test_rating_screen_comes_back_only_when_a_press_counts(sink, clock, thanks, cooldown):
    s, views = make(sink, clock, cooldown_seconds=cooldown, thanks_seconds=thanks)
    s.press(1, "touch")
    step = 0.05
    t = 0.0
    while s.state is State.THANKS:
        clock.advance(step)
        t += step
        s.tick()
        assert t < max(thanks, cooldown) + 1
    assert t == pytest.approx(max(thanks, cooldown), abs=step + 1e-9)
    assert all(v.cooldown_left is None for v in views if v.state is State.RATING)
    assert s.press(4, "touch").accepted, "the first press on the rating screen counts"


def test_bad_rating_reasons_then_thanks_until_the_cooldown_ends(sink, clock):
    s, _ = make(sink, clock, cooldown_seconds=5, thanks_seconds=3)
    s.press(4, "touch")
    clock.advance(1)
    s.skip_reasons()
    clock.advance(3.5)  # 4.5 s after the rating: thanks_seconds are over, the cooldown is not
    s.tick()
    assert s.state is State.THANKS
    clock.advance(0.5)
    s.tick()
    assert s.state is State.RATING


def test_rating_screen_during_a_cooldown_says_not_ready(sink, clock):
    """Back from out of order within the cooldown: the view counts down to ready."""
    s, views = make(sink, clock, cooldown_seconds=10)
    s.press(0, "touch")
    clock.advance(1)
    sink.broken = True
    s.press(0, "gpio")
    assert s.state is State.OUT_OF_ORDER
    sink.broken = False
    clock.advance(PROBE_INTERVAL)
    s.tick()
    view = s.view()
    assert view.state is State.RATING and view.cooldown_left == pytest.approx(7.0)
    clock.advance(7)
    s.tick()
    assert views[-1].state is State.RATING and views[-1].cooldown_left is None, "told when ready"


def test_choosing_a_reason_extends_the_timeout(sink, clock):
    s, _ = make(sink, clock, reasons_timeout_seconds=20)
    s.press(4, "touch")
    clock.advance(15)
    s.select_reasons(["115"])
    assert s.view().seconds_left == pytest.approx(20)
    clock.advance(19)
    s.tick()
    assert s.state is State.REASONS
    clock.advance(1)
    s.tick()
    assert s.state is State.THANKS
    assert sink.events("rating_detail")[0]["reasons"] == ["115"]


def test_paused_window_refuses_prompts_and_presses(sink, clock):
    from kiosk.session import SessionPaused

    s, views = make(sink, clock, mode="transaction")
    prompt = s.open_prompt("P-1")
    view = s.set_paused(True)
    assert view.paused and view.state is State.IDLE
    assert s.prompt_status(prompt.id)["status"] == "unrated", "the open prompt is closed, not lost"
    with pytest.raises(SessionPaused, match="暂停服务"):
        s.open_prompt("P-2")
    out = s.press(0, "serial")
    assert not out.stored and out.reason == "no_prompt"
    assert sink.events("rating") == []
    s.set_paused(False)
    assert not s.view().paused
    s.open_prompt("P-3")
    assert s.press(0, "touch").accepted


def test_paused_free_window_stores_nothing(sink, clock):
    s, _ = make(sink, clock)
    s.set_paused(True)
    assert s.state is State.RATING and s.view().paused
    assert s.press(2, "touch").reason == "no_prompt"
    assert sink.events() == []


def test_misuse_press_during_reasons_keeps_the_step(sink, clock):
    s, _ = make(sink, clock)
    s.press(4, "touch")
    out = s.press(0, "serial")
    assert out.reason == "cooldown" and s.state is State.REASONS


def test_free_mode_press_after_cooldown_during_reasons_closes_them(sink, clock):
    s, _ = make(sink, clock, cooldown_seconds=1, reasons_timeout_seconds=60)
    s.press(4, "touch")
    s.select_reasons(["115"])
    clock.advance(2)
    assert s.press(3, "serial").accepted
    assert s.state is State.REASONS
    assert sink.events("rating_detail")[0]["reasons"] == ["115"]


# --- transaction mode ------------------------------------------------------------

def test_transaction_press_without_prompt_is_refused_and_not_stored(sink, clock):
    s, _ = make(sink, clock, mode="transaction")
    assert s.state is State.IDLE
    out = s.press(0, "serial")
    assert not out.stored and out.reason == "no_prompt"
    assert sink.events() == []


def test_transaction_one_rating_per_prompt(sink, clock):
    s, views = make(sink, clock, mode="transaction")
    p = s.open_prompt("P2026-001", "A017", None)
    assert s.state is State.RATING and s.view().prompt is p
    assert s.view().seconds_left == 60
    out = s.press(1, "touch")
    assert out.accepted
    ev = out.event
    assert (ev["prompt_id"], ev["project_no"], ev["ticket_no"]) == (p.id, "P2026-001", "A017")
    assert s.prompt_status(p.id) == {"id": p.id, "status": "rated", "satisfaction": 4,
                                     "project_no": "P2026-001", "ticket_no": "A017", "staff_no": "1001"}
    assert s.press(0, "touch").reason == "no_prompt"  # a second press for the same prompt
    clock.advance(3.1)
    s.tick()
    assert s.state is State.IDLE
    assert len(sink.events("rating")) == 1


def test_transaction_prompt_timeout_makes_an_unrated_event(sink, clock):
    s, _ = make(sink, clock, mode="transaction", prompt_timeout_seconds=60)
    p = s.open_prompt("P1", None, None)
    clock.advance(59)
    s.tick()
    assert s.state is State.RATING and s.view().seconds_left == pytest.approx(1)
    clock.advance(1.1)
    s.tick()
    assert s.state is State.IDLE
    (ev,) = sink.events("unrated")
    assert ev["prompt_id"] == p.id and ev["project_no"] == "P1" and ev["staff_no"] == "1001"
    assert ev["window_no"] == "A01" and ev["section"] == "综合服务区"
    assert s.prompt_status(p.id)["status"] == "unrated"
    assert s.press(0, "touch").reason == "no_prompt"


def test_new_prompt_turns_the_open_one_unrated(sink, clock):
    s, _ = make(sink, clock, mode="transaction")
    p1 = s.open_prompt("P1", None, None)
    p2 = s.open_prompt("P2", None, "2002")
    assert s.prompt is p2
    assert [e["prompt_id"] for e in sink.events("unrated")] == [p1.id]
    out = s.press(2, "touch")
    assert out.event["prompt_id"] == p2.id and out.event["staff_no"] == "2002"
    assert out.event["staff_name"] == ""  # another staff member than the configured one


def test_prompt_during_reasons_closes_them_and_opens(sink, clock):
    s, _ = make(sink, clock, mode="transaction")
    s.open_prompt("P1", None, None)
    s.press(3, "touch")
    s.select_reasons(["209"])
    p2 = s.open_prompt("P2", None, None)
    assert s.state is State.RATING and s.prompt is p2
    assert sink.events("rating_detail")[0]["reasons"] == ["209"]


def test_prompt_during_thanks_shows_rating_at_once(sink, clock):
    s, _ = make(sink, clock, mode="transaction")
    s.open_prompt("P1", None, None)
    s.press(0, "touch")
    assert s.state is State.THANKS
    s.open_prompt("P2", None, None)
    assert s.state is State.RATING


def test_free_mode_prompt_binds_the_next_rating(sink, clock):
    s, _ = make(sink, clock)
    p = s.open_prompt("P9", "T9", None)
    ev = s.press(2, "touch").event
    assert ev["prompt_id"] == p.id and ev["project_no"] == "P9"


# --- failures ------------------------------------------------------------------------

def test_write_failure_is_not_acknowledged_and_goes_out_of_order(sink, clock):
    s, views = make(sink, clock)
    sink.broken = True
    out = s.press(0, "touch")
    assert not out.stored and not out.ack and out.reason == "error"
    assert s.state is State.OUT_OF_ORDER and "full" in s.view().error
    clock.advance(PROBE_INTERVAL + 0.1)
    s.tick()
    assert s.state is State.OUT_OF_ORDER  # still broken
    sink.broken = False
    clock.advance(PROBE_INTERVAL + 0.1)
    s.tick()
    assert s.state is State.RATING and s.view().error is None
    assert sink.events() == []


def test_press_while_out_of_order_recovers_when_the_write_succeeds(sink, clock):
    s, _ = make(sink, clock)
    sink.broken = True
    s.press(0, "touch")
    sink.broken = False
    assert s.press(1, "touch").accepted
    assert s.state is State.THANKS


def test_transaction_prompts_refused_while_out_of_order(sink, clock):
    s, _ = make(sink, clock, mode="transaction")
    p = s.open_prompt("P1", None, None)
    sink.broken = True
    clock.advance(61)
    s.tick()  # the unrated event cannot be stored
    assert s.state is State.OUT_OF_ORDER
    with pytest.raises(SessionError, match="out of order"):
        s.open_prompt("P2", None, None)
    sink.broken = False
    clock.advance(PROBE_INTERVAL + 0.1)
    s.tick()
    s.tick()
    assert [e["prompt_id"] for e in sink.events("unrated")] == [p.id]  # retried, not lost
    assert s.state is State.IDLE


def test_detail_write_failure_raises_and_goes_out_of_order(sink, clock):
    s, _ = make(sink, clock)
    s.press(4, "touch")
    sink.broken = True
    with pytest.raises(BufferWriteError):
        s.submit_reasons(["115"])
    assert s.state is State.OUT_OF_ORDER


def test_next_deadline_tracks_the_timers(sink, clock):
    s, _ = make(sink, clock, mode="transaction", prompt_timeout_seconds=60)
    assert s.next_deadline() is None
    s.open_prompt(None, None, None)
    assert s.next_deadline() == clock.monotonic() + 60


def test_set_staff_changes_later_ratings(sink, clock):
    s, _ = make(sink, clock)
    s.set_staff("2002", "李四")
    ev = s.press(0, "touch").event
    assert (ev["staff_no"], ev["staff_name"]) == ("2002", "李四")


def test_bad_position_and_mode():
    with pytest.raises(ValueError):
        Session(Settings(window=WIN, mode="loose"), None, FakeClock())
    s = Session(Settings(window=WIN), None, FakeClock())
    with pytest.raises(ValueError, match="0..4"):
        s.press(5, "touch")
