"""A real ``kiosk run --headless`` device keeps its memory flat while 200 MiB
are streamed at its local API: the body is never read past its cap."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from .local_api_support import AUTH, TOKEN, device_config, parse_reply, start_device, stop_device

MiB = 1024 * 1024
STREAM = 200 * MiB


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


def stream_at(port: int, head: bytes, total: int) -> tuple[int, int | None]:
    """Send ``head`` then up to ``total`` bytes of ``[`` (a body that is also
    absurdly nested); returns (bytes the kernel took, the reply's status)."""
    chunk = b"[" * MiB
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        try:
            while sent < total:
                s.sendall(chunk)
                sent += len(chunk)
            s.shutdown(socket.SHUT_WR)
        except OSError:  # the device closed the connection: it will not take the rest
            pass
        got = b""
        try:
            while data := s.recv(65536):
                got += data
        except OSError:
            pass
    return sent, parse_reply(got).status


ATTACKS = {
    "negative Content-Length": "Content-Length: -1\r\n",
    "huge Content-Length": f"Content-Length: {STREAM}\r\n",
    "chunked, no Content-Length": "Transfer-Encoding: chunked\r\n",
    "no Content-Length": "",
}


@pytest.mark.timeout(300)
def test_memory_stays_flat_under_a_200_mib_stream(tmp_path, capsys):
    dev = start_device(device_config(tmp_path))
    try:
        requests.get(dev.url + "/v1/prompt/warm-up", headers=AUTH, timeout=10)  # every code path loaded once
        before = memory_kib(dev.pid)
        report = []
        for name, header in ATTACKS.items():
            head = (f"POST /v1/prompt HTTP/1.1\r\nHost: 127.0.0.1:{dev.port}\r\n"
                    f"Authorization: Bearer {TOKEN}\r\n{header}\r\n").encode()
            sent, status = stream_at(dev.port, head, STREAM)
            report.append(f"{name}: {sent / MiB:.0f} MiB taken, HTTP {status}")
            assert status in (None, 400, 411, 413), report
        # And a request line with no end: 200 MiB and never a newline.
        sent, status = stream_at(dev.port, b"POST /", STREAM)
        report.append(f"endless request line: {sent / MiB:.0f} MiB taken, HTTP {status}")
        after = memory_kib(dev.pid)
        ok = requests.post(dev.url + "/v1/prompt", json={"project_no": "P1"}, headers=AUTH, timeout=10)
        assert ok.status_code == 201, ok.text  # still serving
    finally:
        stop_device(dev)
    growth_rss = (after["VmRSS"] - before["VmRSS"]) / 1024
    growth_peak = (after["VmHWM"] - before["VmHWM"]) / 1024
    with capsys.disabled():
        print(f"\nlocal API memory: VmRSS {before['VmRSS'] / 1024:.1f} → {after['VmRSS'] / 1024:.1f} MiB "
              f"({growth_rss:+.1f}), peak VmHWM {before['VmHWM'] / 1024:.1f} → {after['VmHWM'] / 1024:.1f} MiB "
              f"({growth_peak:+.1f}); " + "; ".join(report))
    assert growth_peak < 8, (before, after, report)
    assert growth_rss < 8, (before, after, report)
    assert "Traceback" not in dev.log(), dev.log()
