"""Random bytes never crash the serial reader and never make a rating that no
valid KEY frame asked for.

The oracle below is written from docs/hardware.md independently of the parser: a
line (ended by ``\\n``, stray ``\\r`` at its ends ignored, at most 80 bytes)
asks for a press only if it reads ``KEY <1..5>`` (spaces around words
allowed) with, optionally, a correct ``*HH`` XOR checksum.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import Future

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.config import DEVICE_SCHEMA, parse
from kiosk.hardware.protocol import BadFrame, Hb, Key, LineReader, Trig
from kiosk.hardware.serial import SerialSource
from kiosk.levels import Level
from kiosk.session import Outcome

from .conftest import PtyPanel, wait_for

_KEY = re.compile(rb"( *KEY +([1-5]) *)(?:\*([0-9A-Fa-f]{2}))?")

SNIPPETS = [b"KEY 1\n", b"KEY 5\r\n", b"KEY 3*44\n", b"KEY 3*47\n", b"KEY 2*45\n", b"KEY 6\n", b"KEY\n",
            b"\n", b"\r", b"\r\n", b"*", b"KEY ", b"TRIG A B\n", b"TRIG\n", b"HB\n", b"HB*0A\n", b"key 1\n",
            b" KEY  4 \n", b"\x00", b"\xff", b"1" * 90, b"KEY 1" + b" " * 80 + b"\n"]


def xor(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


def expected_keys(stream: bytes, require_checksum: bool = False) -> list[int]:
    """The KEY numbers the valid lines of ``stream`` ask for, in order."""
    out = []
    for raw in stream.split(b"\n")[:-1]:  # the last piece has no newline yet: not a line
        if len(raw) > 82:
            continue
        body = raw.strip(b"\r")
        if len(body) > 80:
            continue
        m = _KEY.fullmatch(body)
        if not m:
            continue
        if m.group(3) is None:
            if require_checksum:
                continue
        elif xor(m.group(1)) != int(m.group(3), 16):
            continue
        out.append(int(m.group(2)))
    return out


streams = st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(SNIPPETS)), max_size=30).map(b"".join)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def test_oracle_agrees_on_known_lines():
    assert expected_keys(b"KEY 1\nKEY 3*44\nKEY 3*47\n KEY  4 \r\nKEY 6\nKEY 2") == [1, 3, 4]
    assert expected_keys(b"KEY 1\nKEY 3*44\n", require_checksum=True) == [3]


@settings(max_examples=400, deadline=None)
@given(stream=streams, cuts=st.lists(st.integers(0, 2000), max_size=12), require_checksum=st.booleans())
def test_reader_never_crashes_and_keys_only_from_valid_frames(stream, cuts, require_checksum):
    reader = LineReader(require_checksum=require_checksum)
    got = []
    for chunk in chunked(stream, cuts):
        for item in reader.feed(chunk):
            assert isinstance(item, (Key, Trig, Hb, BadFrame))
            if isinstance(item, Key):
                got.append(item.n)
    assert got == expected_keys(stream, require_checksum)
    assert len(reader._buf) <= 83  # memory stays bounded whatever comes in


class RecordingDevice:
    """Stands in for the device: records what the serial source asked for."""

    def __init__(self):
        self.presses: list[int] = []
        self.triggers: list[tuple] = []

    def press(self, position: int, source: str) -> Future:
        self.presses.append(position)
        fut: Future = Future()
        fut.set_result(Outcome(position, source, stored=True, level=Level.from_position(position)))
        return fut

    def trigger(self, project_no=None, ticket_no=None, staff_no=None) -> Future:
        self.triggers.append((project_no, ticket_no))
        fut: Future = Future()
        fut.set_result(None)
        return fut


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams, cuts=st.lists(st.integers(0, 2000), max_size=6),
       key_map=st.sampled_from([[], [5, 4, 3, 2, 1], [2, 1, 3, 5, 4]]))
def test_random_bytes_over_a_pty_make_only_asked_for_presses(stream, cuts, key_map):
    panel = PtyPanel()
    cfg = parse(DEVICE_SCHEMA, {"hardware": {"serial": {"enabled": True, "port": panel.path, "key_map": key_map}}})
    src = SerialSource(cfg.hardware.serial, retry_seconds=0.02)
    dev = RecordingDevice()
    try:
        src.start(dev)
        wait_for(lambda: src.connected, what="port open")
        sync = b"\nTRIG SYNC-END\n"
        for chunk in chunked(stream + sync, cuts):
            os.write(panel.master, chunk)
        wait_for(lambda: ("SYNC-END", None) in dev.triggers, what="the sync frame")
        want = [(key_map[n - 1] if key_map else n) - 1 for n in expected_keys(stream + sync)]
        assert dev.presses == want
        assert src.health()["keys"] == len(want)
        assert all(t.is_alive() for t in src._threads)  # the reader survived
    finally:
        src.stop()
        panel.close()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams)
def test_random_bytes_into_a_real_device_store_only_asked_for_ratings(stream):
    """The same property end to end: what lands in the buffer file is exactly
    the valid KEY frames, no more."""
    import tempfile

    from kiosk.device import Device

    from .conftest import ratings

    panel = PtyPanel()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse(DEVICE_SCHEMA, {"device": {"data_dir": tmp}, "ui": {"cooldown_seconds": 0},
                                    "hardware": {"serial": {"enabled": True, "port": panel.path}}})
        dev = Device(cfg)
        src = SerialSource(cfg.hardware.serial, retry_seconds=0.02)
        dev.add_source(src)
        try:
            dev.start()
            assert panel.line() == "IDLE"
            os.write(panel.master, stream + b"\nTRIG SYNC-END\n")
            wait_for(lambda: getattr(dev.view().result(5).prompt, "project_no", None) == "SYNC-END",
                     what="the sync frame")
            want = [Level.from_position(n - 1).wire for n in expected_keys(stream + b"\n")]
            assert [r["satisfaction"] for r in ratings(cfg)] == want
        finally:
            dev.close()
            panel.close()
