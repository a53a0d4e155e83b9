"""Counters and a latency histogram in Prometheus text format.

With one server process, :class:`Metrics` counts in memory. With several on one
machine, each started with ``PROMETHEUS_MULTIPROC_DIR`` naming the same empty
directory, :class:`SharedMetrics` keeps every process's values in files there
(prometheus-client's multiprocess mode) and any process's ``/metrics`` shows
the sums over all of them, including processes that have died since. Empty the
directory only when every process is stopped (the systemd units use
``/run/kiosk-metrics``, emptied at boot).
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from typing import Any

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    esc = [(k, str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")) for k, v in labels]
    return "{" + ",".join(f'{k}="{v}"' for k, v in esc) + "}"


class Metrics:
    """Counters by name and labels, plus request latency by route."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._help: dict[str, str] = {}
        self._hist: dict[tuple, list[float]] = {}

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._counters[name][key] += amount

    def observe(self, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            h = self._hist.setdefault(key, [0.0] * (len(_BUCKETS) + 2))
            for i, b in enumerate(_BUCKETS):
                if seconds <= b:
                    h[i] += 1
            h[-2] += 1  # count
            h[-1] += seconds  # sum

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name in sorted(set(self._counters) | set(self._help)):
                if name in self._help:
                    lines.append(f"# HELP {name} {self._help[name]}")
                lines.append(f"# TYPE {name} counter")
                for key, value in sorted(self._counters.get(name, {}).items()):
                    lines.append(f"{name}{_labels(key)} {value:g}")
            hname = "kiosk_http_request_duration_seconds"
            lines.append(f"# HELP {hname} Time to answer an HTTP request, by route.")
            lines.append(f"# TYPE {hname} histogram")
            for key, h in sorted(self._hist.items()):
                for i, b in enumerate(_BUCKETS):
                    lines.append(f"{hname}_bucket{_labels(key + (('le', f'{b:g}'),))} {h[i]:g}")
                lines.append(f"{hname}_bucket{_labels(key + (('le', '+Inf'),))} {h[-2]:g}")
                lines.append(f"{hname}_count{_labels(key)} {h[-2]:g}")
                lines.append(f"{hname}_sum{_labels(key)} {h[-1]:g}")
        return "\n".join(lines) + "\n"


class SharedMetrics:
    """The :class:`Metrics` interface over prometheus-client's multiprocess files in
    ``directory``; :meth:`render` sums every process that wrote there."""

    HIST = "kiosk_http_request_duration_seconds"

    def __init__(self, directory: str) -> None:
        from prometheus_client import Histogram

        if not os.path.isdir(directory):
            raise ValueError(f"PROMETHEUS_MULTIPROC_DIR {directory!r} is not a directory: create it "
                             "(empty, shared by the server processes of this machine) or unset it")
        self.directory = directory
        self._lock = threading.Lock()
        self._help: dict[str, str] = {}
        self._counters: dict[str, Any] = {}
        self._hist = Histogram(self.HIST, "Time to answer an HTTP request, by route.", ["method", "route"],
                               buckets=_BUCKETS, registry=None)

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def _counter(self, name: str, labelnames: list[str]) -> Any:
        from prometheus_client import Counter

        with self._lock:
            c = self._counters.get(name)
            if c is None:
                c = self._counters[name] = Counter(name, self._help.get(name, name), labelnames, registry=None)
            return c

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        c = self._counter(name, sorted(labels))
        (c.labels(**labels) if labels else c).inc(amount)

    def observe(self, seconds: float, **labels: str) -> None:
        self._hist.labels(**labels).observe(seconds)

    def render(self) -> str:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)
        return generate_latest(registry).decode()


def new_metrics() -> Metrics | SharedMetrics:
    """Shared across processes when ``PROMETHEUS_MULTIPROC_DIR`` is set, else in memory."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")
    m: Metrics | SharedMetrics = SharedMetrics(directory) if directory else Metrics()
    m.describe("kiosk_batches_total", "Upload batches answered, by HTTP status.")
    m.describe("kiosk_events_total", "Uploaded events, by result status.")
    m.describe("kiosk_events_rejected_total", "Rejected events, by the field named in the error.")
    m.describe("kiosk_heartbeats_total", "Device heartbeats received.")
    return m


class RequestTiming:
    """Request latency by route into the metrics (a plain ASGI middleware: it
    adds nothing to the request path but two clock reads)."""

    def __init__(self, app, metrics: Metrics | SharedMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = scope.get("route")
            self.metrics.observe(time.perf_counter() - start, route=getattr(route, "path", "other"),
                                 method=scope.get("method", ""))
