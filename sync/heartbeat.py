"""The heartbeat: ``POST /api/v1/heartbeat`` every ``interval_seconds`` with
the device's state (docs/sync.md, "Heartbeat"), on its own thread and its own HTTP session so
it never waits behind a backlog being uploaded.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.buffer import Buffer
from kiosk.clock import Clock, SystemClock
from kiosk.status import heartbeat_state, system_uptime

from . import TransportError
from .client import HEARTBEAT, Client

log = logging.getLogger(__name__)


class Heartbeat:
    """Builds and sends the device state report."""

    def __init__(self, buffer: Buffer, client: Client, *, device_id: str, interval: float = 30.0,
                 clock: Clock | None = None, data_dir: str | os.PathLike | None = None,
                 uploader=None, token_source=None,
                 uptime: Callable[[], float | None] = system_uptime):
        self.buffer = buffer
        self.client = client
        self.device_id = device_id
        self.interval = interval
        self.clock = clock or SystemClock()
        self.data_dir = Path(data_dir) if data_dir else buffer.path.parent
        self.uploader = uploader
        self.uptime = uptime
        self.token_source = token_source
        self.last_error: str | None = None
        self.sent = 0

    def state(self) -> dict[str, Any]:
        """The report: what a supervisor needs to see that a device is healthy."""
        stopped = self.uploader.stopped if self.uploader is not None else None
        return heartbeat_state(self.buffer, self.clock, device_id=self.device_id, data_dir=self.data_dir,
                               sync_stopped=stopped, uptime=self.uptime())

    def send(self) -> bool:
        """One heartbeat; True when the server took it. Never raises for network faults."""
        if self.token_source is not None:
            self.client.token = self.token_source.token  # follows a re-provisioned token
        try:
            reply = self.client.post_json(HEARTBEAT, self.state())
        except TransportError as exc:
            return self._failed(str(exc))
        except (OSError, sqlite3.Error) as exc:
            return self._failed(f"cannot read the device state: {exc}")
        if 200 <= reply.status < 300:
            self.sent += 1
            self._settings(reply)
            if self.uploader is not None and getattr(self.uploader, "backoff", None) is not None \
                    and self.uploader.backoff.failures:
                self.uploader.nudge()  # the network is back: the uploader need not sit out its backoff
            if self.last_error:
                log.info("heartbeat delivered again")
            self.last_error = None
            return True
        return self._failed(f"{reply.status} from the server: {reply.brief()}")

    def _settings(self, reply) -> None:
        """Keep the remote settings the answer carries (never fails the heartbeat)."""
        from . import remote

        try:
            body = reply.json()
            remote.store(self.buffer, self.client, self.data_dir,
                         body.get("settings") if isinstance(body, dict) else None, self.clock.time())
        except Exception as exc:
            log.warning("cannot apply the settings in the heartbeat answer: %s", exc)

    def _failed(self, error: str) -> bool:
        if error != self.last_error:
            log.warning("heartbeat failed: %s", error)
        self.last_error = error
        return False

    def run(self, stop: threading.Event, wait: Callable[[float], bool] | None = None) -> None:
        """Send now, then every ``interval`` seconds until ``stop`` is set."""
        wait = wait or stop.wait
        while not stop.is_set():
            started = self.clock.monotonic()
            self.send()
            if wait(max(0.0, self.interval - (self.clock.monotonic() - started))):
                break
