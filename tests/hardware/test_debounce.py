"""The debouncer on bounce patterns, stuck buttons and its timing contract.

The edge patterns are written in microseconds after the shapes switch
contacts show on a scope: tactile switches close with a burst of a few to a
dozen edges within ~1-2 ms and open with a shorter burst; worn or arcade
switches bounce for up to ~6 ms; a nearby relay induces sub-millisecond
spikes. They are not captures from this kiosk's own buttons.
"""

from __future__ import annotations

import pytest

from kiosk.hardware.debounce import PRESS, RELEASE, STUCK, UNSTUCK, Debouncer, debounce_edges

DEBOUNCE = 0.030
STUCK_S = 10.0


def edges_us(*pattern: tuple[int, int]) -> list[tuple[float, bool]]:
    """(microseconds, level) pairs → (seconds, pressed)."""
    return [(t / 1e6, bool(level)) for t, level in pattern]


CLEAN = edges_us((0, 1), (150_000, 0))
TACTILE = edges_us(  # 12 closing edges in 1.4 ms, 120 ms hold, 5 opening edges in 0.9 ms
    (0, 1), (90, 0), (160, 1), (310, 0), (420, 1), (600, 0), (680, 1), (850, 0), (930, 1), (1100, 0),
    (1190, 1), (1400, 0), (1420, 1),
    (121_400, 0), (121_600, 1), (121_750, 0), (122_000, 1), (122_300, 0))
WORN = edges_us(  # bounces for 6.2 ms with gaps up to 2 ms
    (0, 1), (400, 0), (1_200, 1), (1_500, 0), (3_500, 1), (3_600, 0), (5_600, 1), (5_900, 0), (6_200, 1),
    (200_000, 0), (201_000, 1), (203_500, 0))
SPIKES = edges_us((0, 1), (180, 0), (50_000, 1), (50_250, 0), (90_000, 1), (90_120, 0))
DOUBLE_TAP = edges_us((0, 1), (300, 0), (500, 1), (90_000, 0), (90_400, 1), (90_700, 0),
                      (180_000, 1), (180_200, 0), (180_600, 1), (260_000, 0))
TOO_SHORT = edges_us((0, 1), (100, 0), (300, 1), (12_000, 0))


def kinds(events):
    return [e.kind for e in events]


def test_clean_press_and_release():
    ev = debounce_edges(CLEAN, DEBOUNCE, STUCK_S)
    assert kinds(ev) == [PRESS, RELEASE]
    assert ev[0].t == pytest.approx(0.030)
    assert ev[1].t == pytest.approx(0.180)


def test_tactile_bounce_is_one_press():
    ev = debounce_edges(TACTILE, DEBOUNCE, STUCK_S)
    assert kinds(ev) == [PRESS, RELEASE]
    # Confirmed one debounce interval after the LAST closing bounce.
    assert ev[0].t == pytest.approx(0.001420 + DEBOUNCE)
    assert ev[1].t == pytest.approx(0.122300 + DEBOUNCE)


def test_worn_switch_is_one_press():
    assert kinds(debounce_edges(WORN, DEBOUNCE, STUCK_S)) == [PRESS, RELEASE]


def test_induced_spikes_are_no_press():
    assert debounce_edges(SPIKES, DEBOUNCE, STUCK_S, until=1.0) == []


def test_double_tap_is_two_presses():
    assert kinds(debounce_edges(DOUBLE_TAP, DEBOUNCE, STUCK_S)) == [PRESS, RELEASE, PRESS, RELEASE]


def test_a_tap_shorter_than_the_debounce_time_is_no_press():
    assert debounce_edges(TOO_SHORT, DEBOUNCE, STUCK_S) == []
    # …but counts with a shorter debounce setting.
    assert kinds(debounce_edges(TOO_SHORT, 0.005, STUCK_S)) == [PRESS, RELEASE]


def test_zero_debounce_passes_every_edge():
    ev = debounce_edges(edges_us((0, 1), (100, 0), (200, 1), (300, 0)), 0.0, STUCK_S)
    assert kinds(ev) == [PRESS, RELEASE, PRESS, RELEASE]


def test_press_is_only_reported_once_certain():
    d = Debouncer(DEBOUNCE, STUCK_S, t=0.0)
    assert d.edge(True, 1.000) == []
    assert d.deadline() == pytest.approx(1.030)
    assert d.poll(1.029) == []
    assert kinds(d.poll(1.030)) == [PRESS]
    assert d.deadline() == pytest.approx(11.000)  # next: the stuck check
    assert d.edge(False, 1.200) == []
    assert kinds(d.poll(1.300)) == [RELEASE]
    assert d.deadline() is None
    assert d.presses == 1


def test_repeated_level_reports_are_ignored():
    d = Debouncer(DEBOUNCE, STUCK_S)
    d.edge(True, 0.0)
    d.edge(True, 0.020)  # a backend reporting the same level again must not restart the timer
    assert kinds(d.poll(0.031)) == [PRESS]


def test_stuck_button_is_reported_and_ignored_until_released():
    d = Debouncer(DEBOUNCE, STUCK_S, t=0.0)
    d.edge(True, 1.0)
    assert kinds(d.poll(1.1)) == [PRESS]
    ev = d.poll(11.5)
    assert kinds(ev) == [STUCK] and ev[0].t == pytest.approx(11.0)
    assert d.stuck
    # Chatter on the stuck contact (releases shorter than the debounce time): no press, still stuck.
    for k in range(20):
        t = 12.0 + k * 0.1
        assert d.edge(False, t) == []
        assert d.edge(True, t + 0.005) == []
    assert d.poll(20.0) == [] and d.stuck and d.presses == 1
    # A real release clears it; the next press counts again.
    d.edge(False, 20.0)
    assert kinds(d.poll(20.1)) == [UNSTUCK, RELEASE]
    assert not d.stuck
    d.edge(True, 21.0)
    assert kinds(d.poll(21.1)) == [PRESS]
    assert d.presses == 2


def test_stuck_is_reported_only_once():
    d = Debouncer(DEBOUNCE, STUCK_S)
    d.edge(True, 0.0)
    assert kinds(d.poll(10.0)) == [PRESS, STUCK]
    assert d.poll(100.0) == []
    assert d.deadline() is None


def test_button_held_at_start_is_no_press():
    d = Debouncer(DEBOUNCE, STUCK_S, pressed=True, t=5.0)
    assert d.poll(6.0) == []
    assert kinds(d.poll(15.0)) == [STUCK]
    d.edge(False, 16.0)
    assert kinds(d.poll(16.1)) == [UNSTUCK, RELEASE]
    d.edge(True, 17.0)
    assert kinds(d.poll(17.1)) == [PRESS]


def test_held_at_start_then_released_before_stuck():
    d = Debouncer(DEBOUNCE, STUCK_S, pressed=True, t=0.0)
    d.edge(False, 2.0)
    assert kinds(d.poll(2.1)) == [RELEASE]
    assert d.presses == 0


def test_time_going_backwards_is_clamped():
    d = Debouncer(DEBOUNCE, STUCK_S)
    d.edge(True, 1.0)
    assert kinds(d.poll(1.1)) == [PRESS]
    assert d.poll(0.5) == []


@pytest.mark.parametrize("debounce, stuck", [(-0.1, 10), (0.03, 0.03), (1.0, 0.5)])
def test_bad_settings_are_refused(debounce, stuck):
    with pytest.raises(ValueError):
        Debouncer(debounce, stuck)
