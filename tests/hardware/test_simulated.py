"""The scriptable source, and source selection by config."""

from __future__ import annotations

import pytest

from kiosk.exceptions import HardwareError
from kiosk.hardware import build_sources
from kiosk.hardware.gpio import GpioSource
from kiosk.hardware.serial import SerialSource
from kiosk.hardware.simulated import SimulatedSource
from kiosk.session import State

from .conftest import ratings


def test_press_and_trigger_through_the_device(device_factory, make_cfg):
    cfg = make_cfg(ui={"mode": "transaction"}, hardware={"simulated": {"enabled": True}})
    dev = device_factory(cfg)
    [sim] = build_sources(cfg)
    assert isinstance(sim, SimulatedSource)
    dev.add_source(sim)
    dev.start()
    assert sim.press(1).result(5).reason == "no_prompt"
    prompt = sim.trigger("2026A7", "T9").result(5)
    out = sim.press(2).result(5)
    assert out.ack and out.source == "simulated"
    [r] = ratings(cfg)
    assert (r["satisfaction"], r["prompt_id"], r["project_no"]) == (4, prompt.id, "2026A7")
    assert [o.reason for o in sim.outcomes] == ["no_prompt", None]
    assert any(v.state is State.RATING and v.prompt for v in sim.views)
    assert sim.health() == {"ok": True, "presses": 2, "triggers": 1}


def test_run_script(device_factory, make_cfg):
    cfg = make_cfg(ui={"mode": "transaction", "reasons_for": "bad"})
    dev = device_factory(cfg)
    slept = []
    sim = SimulatedSource(None, sleep=slept.append)
    dev.add_source(sim)
    dev.start()
    results = sim.run_script(["# a demo", "t P1", "1", "", "sleep 0.5", "t P2 T2", "5  # bad"])
    assert [getattr(x, "project_no", None) for x in results[::2]] == ["P1", "P2"]
    assert [o.level.wire for o in results[1::2]] == [5, 1]
    assert slept == [0.5]
    with pytest.raises(ValueError, match="unknown simulated panel command"):
        sim.run_script(["jump"])


def test_not_started_and_bad_numbers():
    sim = SimulatedSource()
    with pytest.raises(HardwareError):
        sim.press(1)
    with pytest.raises(ValueError):
        sim.press(6)


def test_build_sources_picks_enabled_backends(make_cfg, mock_factory):
    cfg = make_cfg(hardware={"gpio": {"enabled": True}, "serial": {"enabled": True, "port": "/dev/null"},
                             "simulated": {"enabled": True}})
    kinds = [type(s) for s in build_sources(cfg)]
    assert kinds == [GpioSource, SerialSource, SimulatedSource]
    assert build_sources(make_cfg()) == []
