"""Talking to systemd: readiness, status and the watchdog (sd_notify).

The units in ``systemd/`` are ``Type=notify`` with ``WatchdogSec``: a process
says ``READY=1`` once it serves, then ``WATCHDOG=1`` regularly. When the pings
stop (a hung main loop), systemd kills and restarts the service. Pings are only
sent from the main loop itself (:meth:`Watchdog.kick`), never from a helper
thread that would keep pinging while the loop is stuck.

No dependency: the protocol is one datagram per message on the AF_UNIX socket
named in ``$NOTIFY_SOCKET`` (a leading ``@`` means the abstract namespace).
Outside systemd (no ``$NOTIFY_SOCKET``) every call is a cheap no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def _address(env: str) -> str | bytes:
    if env.startswith("@"):
        return b"\0" + env[1:].encode()
    return env


def notify(message: str, *, environ: dict[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``, ``"STATUS=…"``) to the service manager.

    Returns True when it was delivered, False when there is no manager or the
    socket is gone. Never raises: the device must keep rating even if systemd
    cannot be told.
    """
    env = os.environ if environ is None else environ
    path = env.get("NOTIFY_SOCKET")
    if not path:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(path))
            sock.sendall(message.encode("utf-8"))
        return True
    except OSError as exc:
        log.debug("sd_notify %r to %s failed: %s", message, path, exc)
        return False


def ready(status: str | None = None) -> bool:
    """``READY=1`` (plus an optional ``STATUS=`` line)."""
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def status(text: str) -> bool:
    """``STATUS=…``: the line ``systemctl status`` shows."""
    return notify(f"STATUS={text}")


def stopping() -> bool:
    """``STOPPING=1``: a clean shutdown has begun."""
    return notify("STOPPING=1")


def watchdog_timeout(environ: dict[str, str] | None = None) -> float | None:
    """The watchdog timeout in seconds, or None when no watchdog is asked for
    (``$WATCHDOG_USEC`` missing, or ``$WATCHDOG_PID`` names another process)."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 if value > 0 else None


class Watchdog:
    """Pings ``WATCHDOG=1`` at half the watchdog timeout, but only from :meth:`kick`.

    Call ``kick()`` from every turn of the main loop (as often as you like:
    it sends at most once per ``interval``). If the loop hangs, ``kick`` is not
    called, the pings stop and systemd restarts the service.
    """

    def __init__(self, environ: dict[str, str] | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self._environ = environ
        self.timeout = watchdog_timeout(environ)
        self.interval = self.timeout / 2 if self.timeout else None
        self._monotonic = monotonic
        self._last: float | None = None
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    def kick(self) -> bool:
        """The main loop is alive: ping when half the timeout has passed since the last ping."""
        if self.interval is None:
            return False
        now = self._monotonic()
        if self._last is not None and now - self._last < self.interval:
            return False
        if notify("WATCHDOG=1", environ=self._environ):
            self._last = now
            self.sent += 1
            return True
        return False

    def stale_after(self, floor: float = 1.0) -> float:
        """How old a loop's last sign of life may be before it counts as hung:
        half the watchdog timeout (at least ``floor`` seconds)."""
        return max(floor, self.interval or 0.0)


def watch_loop(last_beat: Callable[[], float], what: str = "main loop",
               monotonic: Callable[[], float] = time.monotonic,
               stop: threading.Event | None = None) -> threading.Thread | None:
    """Watch a loop that runs on another thread (the Kivy main loop) from a daemon thread.

    ``last_beat()`` returns the ``monotonic()`` time of the loop's last turn.
    ``READY=1`` goes out on the first turn after this call; ``WATCHDOG=1`` only
    while the last turn is younger than :meth:`Watchdog.stale_after`. Returns
    the thread, or None outside systemd.
    """
    if not os.environ.get("NOTIFY_SOCKET"):
        return None
    wd = Watchdog(monotonic=monotonic)
    started = monotonic()
    stop = stop or threading.Event()

    def run() -> None:
        announced = False
        while not stop.is_set():
            fresh = monotonic() - last_beat() < wd.stale_after()
            if not announced and last_beat() >= started:
                announced = ready(f"{what} running")
            if announced and fresh:
                wd.kick()
            stop.wait(0.25)

    thread = threading.Thread(target=run, name="sd-watchdog", daemon=True)
    thread.start()
    return thread


def attach_to_asgi(app, name: str = "server") -> None:
    """READY/WATCHDOG/STOPPING for an ASGI app (FastAPI/Starlette) run by uvicorn.

    The pings come from a task on the server's event loop, so a blocked loop
    (a request handler that never yields) stops them.
    """
    state: dict = {}

    async def _pinger(wd: Watchdog) -> None:
        while True:
            wd.kick()
            await asyncio.sleep(min(1.0, wd.interval or 1.0))

    async def _startup() -> None:
        wd = Watchdog()
        ready(f"{name} serving")
        if wd.enabled:
            state["task"] = asyncio.get_running_loop().create_task(_pinger(wd))

    async def _shutdown() -> None:
        stopping()
        task = state.pop("task", None)
        if task is not None:
            task.cancel()

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(asgi_app):
        async with inner(asgi_app) as value:
            await _startup()
            try:
                yield value
            finally:
                await _shutdown()

    app.router.lifespan_context = lifespan


__all__ = ["Watchdog", "attach_to_asgi", "notify", "ready", "status", "stopping", "watch_loop", "watchdog_timeout"]
