"""Serial protocol v1 without a port: checksums, parsing, framing, key_map."""

from __future__ import annotations

import pytest

from kiosk.hardware import protocol
from kiosk.hardware.protocol import BadFrame, Hb, Key, LineReader, Trig, checksum, key_position, parse


def test_checksum_is_nmea_xor():
    # A published NMEA sentence: the checksum covers the bytes between '$' and '*'.
    assert checksum("GPGLL,5057.970,N,00146.110,E,142451,A") == "27"
    assert checksum("KEY 1") == "46"
    assert checksum(b"HB") == f"{ord('H') ^ ord('B'):02X}" == "0A"
    assert checksum("") == "00"


@pytest.mark.parametrize("line, frame", [
    (b"KEY 1", Key(1)),
    (b"KEY 5\r", Key(5)),
    (b"KEY 3*" + checksum("KEY 3").encode(), Key(3, checksum=True)),
    (b"KEY 3*" + checksum("KEY 3").lower().encode(), Key(3, checksum=True)),
    (b"  KEY   2  ", Key(2)),
    (b"TRIG", Trig()),
    (b"TRIG 2026A001", Trig("2026A001")),
    (b"TRIG 2026A001 T-042", Trig("2026A001", "T-042")),
    (b"TRIG 2026A001 T-042*" + checksum("TRIG 2026A001 T-042").encode(), Trig("2026A001", "T-042", checksum=True)),
    (b"HB", Hb()),
    (b"HB*0A", Hb(checksum=True)),
])
def test_valid_frames(line, frame):
    assert parse(line) == frame


@pytest.mark.parametrize("line, why", [
    (b"KEY 0", "1..5"),
    (b"KEY 6", "1..5"),
    (b"KEY 01", "1..5"),
    (b"KEY", "1..5"),
    (b"KEY 1 2", "1..5"),
    (b"KEY x", "1..5"),
    (b"key 1", "unknown command"),
    (b"ACK 1", "unknown command"),
    (b"HB 1", "no arguments"),
    (b"TRIG a b c", "at most"),
    (b"KEY 1*00", "checksum mismatch"),
    (b"KEY 1*4", "malformed checksum"),
    (b"KEY 1*466", "malformed checksum"),
    (b"KEY 1*ZZ", "malformed checksum"),
    (b"KEY*1*46", "checksum mismatch"),
    (b"KEY \x001", "printable"),
    (b"KEY \xb11", "printable"),
    (b"*00", "printable"),
    (b" ", "empty command"),
    (b"K" * 81, "longer than 80"),
])
def test_bad_frames(line, why):
    got = parse(line)
    assert isinstance(got, BadFrame)
    assert why in got.why


def test_line_of_exactly_80_bytes_is_accepted():
    body = "TRIG " + "P" * 40 + " " + "T" * 31
    line = f"{body}*{checksum(body)}"
    assert len(line) == 80
    assert parse(line.encode()) == Trig("P" * 40, "T" * 31, checksum=True)
    assert LineReader().feed(line.encode() + b"\r\n") == [Trig("P" * 40, "T" * 31, checksum=True)]
    longer = "TRIG " + "P" * 40 + " " + "T" * 35
    assert len(longer) == 81
    out = LineReader().feed(longer.encode() + b"\r\n")
    assert len(out) == 1 and isinstance(out[0], BadFrame)


def test_require_checksum_drops_plain_lines():
    assert isinstance(parse(b"KEY 1", require_checksum=True), BadFrame)
    assert parse(b"KEY 1*46", require_checksum=True) == Key(1, checksum=True)
    # A wrong checksum is dropped whether or not it is required.
    assert isinstance(parse(b"KEY 1*47", require_checksum=False), BadFrame)


def test_encode_replies():
    assert protocol.ack(3) == b"ACK 3\r\n"
    assert protocol.ack(3, with_checksum=True) == f"ACK 3*{checksum('ACK 3')}\r\n".encode()
    assert protocol.nak(2, "no_prompt") == b"NAK 2 no_prompt\r\n"
    assert protocol.encode("PROMPT") == b"PROMPT\r\n"
    assert protocol.encode("IDLE", with_checksum=True) == f"IDLE*{checksum('IDLE')}\r\n".encode()
    with pytest.raises(ValueError):
        protocol.nak(2, "busy")
    with pytest.raises(ValueError):
        protocol.encode("X" * 81)


def test_key_position_with_and_without_key_map():
    assert [key_position(n, []) for n in range(1, 6)] == [0, 1, 2, 3, 4]
    # key_map[k-1] is the 1-based position of KEY k: a panel wired right to left.
    assert [key_position(n, [5, 4, 3, 2, 1]) for n in range(1, 6)] == [4, 3, 2, 1, 0]
    assert key_position(2, [2, 1, 3, 4, 5]) == 0
    with pytest.raises(ValueError):
        key_position(6, [])


def test_reader_splits_lines_across_chunks():
    r = LineReader()
    assert r.feed(b"KE") == []
    assert r.feed(b"Y 1\r") == []
    assert r.feed(b"\nHB\nKEY 2\r\nTR") == [Key(1), Hb(), Key(2)]
    assert r.feed(b"IG A B\n") == [Trig("A", "B")]


def test_reader_ignores_empty_lines_and_counts_garbage():
    r = LineReader()
    out = r.feed(b"\n\r\n\r\r\nhello\nKEY 4\n")
    assert out[0] == BadFrame(b"hello", out[0].why)
    assert out[1:] == [Key(4)]


def test_reader_drops_an_over_long_line_and_resyncs():
    r = LineReader()
    out = r.feed(b"KEY 1" + b"x" * 200)
    assert out == []
    out = r.feed(b"y" * 5000 + b"KEY 2\nKEY 3\n")
    assert len(out) == 2
    assert isinstance(out[0], BadFrame) and "longer than 80" in out[0].why
    assert len(out[0].line) <= protocol.MAX_LINE
    assert out[1] == Key(3)
    assert len(r._buf) == 0  # memory stays bounded


def test_reader_with_required_checksum():
    r = LineReader(require_checksum=True)
    out = r.feed(b"KEY 1\nKEY 1*46\n")
    assert isinstance(out[0], BadFrame)
    assert out[1] == Key(1, checksum=True)


def test_reset_reports_a_cut_off_line():
    r = LineReader()
    r.feed(b"KEY")
    cut = r.reset()
    assert isinstance(cut, BadFrame) and cut.line == b"KEY"
    assert r.reset() is None
    # The cut-off start never joins the next bytes into a KEY frame.
    out = r.feed(b" 1\n")
    assert len(out) == 1 and isinstance(out[0], BadFrame)
