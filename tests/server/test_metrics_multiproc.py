"""/metrics whole across processes: three servers behind nginx share
PROMETHEUS_MULTIPROC_DIR, and each one's /metrics shows the totals of all of
them, the counts of a process killed meanwhile included."""

from __future__ import annotations

import contextlib
import re

import pytest
import requests

from central import db
from central.metrics import SharedMetrics
from testkit.nginx import nginx_available, running_nginx
from testkit.pg import new_pg_database
from testkit.server import add_device, make_batch, rating_event, running_server

pytestmark = pytest.mark.pg


def _value(text: str, sample: str) -> float:
    """The value of one sample line (``name{labels}``) in Prometheus text; 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(sample + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _post(proxy: str, token: str, device: str, n: int) -> None:
    for _ in range(n):
        r = requests.post(proxy + "/api/v1/batches", json=make_batch(device, [rating_event(4), rating_event(5)]),
                          headers={"Authorization": f"Bearer {token}"}, timeout=20)
        assert r.status_code == 200, r.text


def test_every_process_shows_the_totals(pg_base_url, tmp_path, monkeypatch):
    ok, reason = nginx_available()
    if not ok:
        pytest.fail(reason)
    url = new_pg_database(pg_base_url)
    db.upgrade(url)
    token = add_device(url, "mx-1")
    bad = add_device(url, "mx-2")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    batches = 'kiosk_batches_total{status="200"}'
    events = 'kiosk_events_total{status="accepted"}'
    timed = 'kiosk_http_request_duration_seconds_count{method="POST",route="/api/v1/batches"}'
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(running_server(url, timezone="UTC")) for _ in range(3)]
        proxy = stack.enter_context(running_nginx([int(s.rsplit(":", 1)[1]) for s in servers]))
        _post(proxy, token, "mx-1", 30)
        # a wrong token is counted too, wherever it landed
        for _ in range(4):
            assert requests.post(proxy + "/api/v1/batches", json=make_batch("mx-2", [rating_event()]),
                                 headers={"Authorization": "Bearer nope" + bad[:3]}, timeout=20).status_code == 401
        texts = [requests.get(s + "/metrics", timeout=10).text for s in servers]
        for text in texts:
            assert _value(text, batches) == 30, text
            assert _value(text, events) == 60
            assert _value(text, 'kiosk_batches_total{status="401"}') == 4
            assert _value(text, timed) == 34
        # the load really was spread: every process wrote its own file
        assert len({p.name.rsplit("_", 1)[1] for p in tmp_path.glob("counter_*.db")}) == 3

        servers[0].kill()
        _post(proxy, token, "mx-1", 6)
        for s in servers[1:]:
            text = requests.get(s + "/metrics", timeout=10).text
            assert _value(text, batches) == 36  # the dead process's 30-odd are still in the sum
            assert _value(text, events) == 72
            assert re.search(r"^# HELP kiosk_batches_total Upload batches answered", text, re.M)


def test_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="PROMETHEUS_MULTIPROC_DIR .* is not a directory"):
        SharedMetrics(str(tmp_path / "absent"))
