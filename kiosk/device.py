"""The device: one session, one buffer, its sources, on one thread.

Sources, the local API and the screen may live on other threads; they hand
their requests to the session's thread through :meth:`Device.submit` and get a
Future back. The session's thread is either the device's own worker
(:meth:`Device.start`, the headless device) or a thread that adopts the device
(:meth:`Device.adopt`, the Kivy main loop), so that nothing in the session is
ever touched from two threads.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from . import __version__, status
from .buffer import Buffer
from .clock import SystemClock, rfc3339
from .config import Config, data_dir
from .session import Outcome, Prompt, Session, Settings, View

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 10.0
SETTINGS_INTERVAL = 2.0
PRUNE_INTERVAL = 6 * 3600.0
BUFFER_NAME = "buffer.db"


def buffer_path(cfg: Config) -> Path:
    return data_dir(cfg) / BUFFER_NAME


class Device:
    """Wires inputs → session → buffer and session changes → listeners."""

    def __init__(self, cfg: Config, *, buffer: Buffer | None = None, clock=None,
                 settings: Settings | None = None):
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.buffer = buffer or Buffer(buffer_path(cfg), repair=True)
        self._remote_version = None
        self.extras: dict[str, Any] = {"language": cfg.ui.language, "staff_photo": cfg.staff.photo}
        if settings is None:
            settings = self._load_remote() or Settings.from_config(cfg)
        # views are built only once someone listens (add_source / add_listener)
        self.session = Session(settings, self.buffer, self.clock, on_change=None)
        self.sources: list = []
        self.listeners: list = []
        self._queue: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._owner: int | None = None
        self._wake: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._last_health: Any = None
        self._next_health = 0.0
        self._next_prune = 0.0
        self._next_settings = 0.0
        #: the settings in force are not yet in the buffer's ``settings.applied`` (its write failed)
        self._applied_unrecorded = False
        self.started_at = time.time()
        self.last_pump = time.monotonic()  # the session thread's last sign of life (watchdog)

    # --- wiring ------------------------------------------------------------

    def add_source(self, source) -> None:
        self.sources.append(source)
        self.session.on_change = self._on_change

    def add_listener(self, listener) -> None:
        """An object with optional ``on_view(view)`` / ``on_outcome(outcome)`` methods."""
        self.listeners.append(listener)
        self.session.on_change = self._on_change

    def _targets(self):
        return self.sources + self.listeners

    def _on_change(self, view: View) -> None:
        for target in self._targets():
            fn = getattr(target, "on_view", None)
            if fn is not None:
                try:
                    fn(view)
                except Exception:
                    log.exception("listener %r failed on a view change", target)

    def _announce(self, outcome: Outcome) -> None:
        for target in self._targets():
            fn = getattr(target, "on_outcome", None)
            if fn is not None:
                try:
                    fn(outcome)
                except Exception:
                    log.exception("listener %r failed on an outcome", target)

    # --- the session's thread -----------------------------------------------

    def submit(self, fn: Callable[..., Any], *args, **kwargs) -> Answer:
        """Run ``fn(*args, **kwargs)`` on the session's thread; returns a Future."""
        if self._owner == threading.get_ident():
            return _Done.of(fn, args, kwargs)  # on the session's thread: run now, no locks
        fut: Future = Future()
        with self._cv:
            self._queue.append((fut, fn, args, kwargs))
            self._cv.notify()
        if self._wake is not None:
            self._wake()
        return fut

    def pump(self) -> None:
        """Run queued requests and due timers (on the session's thread)."""
        self.last_pump = time.monotonic()
        while True:
            with self._cv:
                if not self._queue:
                    break
                fut, fn, args, kwargs = self._queue.popleft()
            _run(fut, fn, args, kwargs)
        self.session.tick()
        self._housekeeping()

    def adopt(self, wake: Callable[[], None] | None = None) -> None:
        """Make the calling thread the session's thread (e.g. Kivy's main thread).

        ``wake`` is called (from any thread) when a request is queued; it must
        arrange for :meth:`pump` to run soon on this thread.
        """
        self._owner = threading.get_ident()
        self._wake = wake
        self._housekeeping(force=True)

    def run_forever(self) -> None:
        """Be the session's thread until :meth:`stop`."""
        self._owner = threading.get_ident()
        self._housekeeping(force=True)
        while not self._stopping:
            self.pump()
            deadline = self.session.next_deadline()
            timeout = 0.5
            if deadline is not None:
                timeout = max(0.0, min(timeout, deadline - self.clock.monotonic()))
            with self._cv:
                if not self._queue and not self._stopping:
                    self._cv.wait(timeout)
        self.pump()

    def start(self) -> None:
        """Start the sources and a worker thread that is the session's thread."""
        self._thread = threading.Thread(target=self.run_forever, name="session", daemon=True)
        self._thread.start()
        for source in self.sources:
            source.start(self)

    def start_sources(self) -> None:
        for source in self.sources:
            source.start(self)

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        for source in self.sources:
            try:
                source.stop()
            except Exception:
                log.exception("source %r failed to stop", source)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def wait_stopped(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self.stop()
        self.buffer.close()

    # --- requests (any thread) ------------------------------------------------

    def press(self, position: int, source: str) -> Answer:
        """A button at ``position`` (0 = leftmost) was pressed; Future[Outcome]."""
        return self.submit(self._press, position, source)

    def _press(self, position: int, source: str) -> Outcome:
        outcome = self.session.press(position, source)
        self._announce(outcome)
        return outcome

    def trigger(self, project_no: str | None = None, ticket_no: str | None = None,
                staff_no: str | None = None, project: dict[str, Any] | None = None) -> Answer:
        """Open a prompt (一事一评), optionally with its 办件; Future[Prompt]."""
        return self.submit(self.session.open_prompt, project_no, ticket_no, staff_no, project)

    def submit_reasons(self, codes, comment: str | None = None, phone: str | None = None) -> Answer:
        return self.submit(self.session.submit_reasons, codes, comment, phone)

    def select_reasons(self, codes) -> Answer:
        return self.submit(self.session.select_reasons, codes)

    def skip_reasons(self) -> Answer:
        return self.submit(self.session.skip_reasons)

    def prompt_status(self, prompt_id: str) -> Answer:
        return self.submit(self._prompt_status, prompt_id)

    def _prompt_status(self, prompt_id: str) -> dict | None:
        found = self.session.prompt_status(prompt_id)
        if found is not None:
            return dict(found)
        event = self.buffer.find_by_prompt(prompt_id)
        if event is None:
            return None
        if event["type"] == "rating":
            return {"id": prompt_id, "status": "rated", "satisfaction": event["satisfaction"]}
        return {"id": prompt_id, "status": "unrated"}

    def view(self) -> Answer:
        return self.submit(self.session.view)

    def set_paused(self, paused: bool) -> Answer:
        """暂停服务 on or off; Future[View]."""
        return self.submit(self.session.set_paused, paused)

    # --- housekeeping ---------------------------------------------------------

    def health(self) -> dict[str, Any]:
        out = {}
        for source in self.sources:
            try:
                out[source.name] = source.health()
            except Exception as exc:
                out[source.name] = {"ok": False, "error": str(exc)}
        return out

    # --- remote settings -------------------------------------------------------

    def _load_remote(self) -> Settings | None:
        """The last settings the server sent (kept in the buffer), merged over the config."""
        from . import remote

        try:
            stored = self.buffer.get_meta(status.SETTINGS_REMOTE)
        except Exception as exc:
            log.warning("cannot read remote settings: %s", exc)
            return None
        if not stored or stored.get("version") == self._remote_version:
            return None
        try:
            stored["values"] = remote.validate(stored.get("values") or {})
        except ValueError as exc:
            log.error("ignoring remote settings version %s: %s", stored.get("version"), exc)
            self._remote_version = stored.get("version")
            return None
        settings, extras = remote.merge(self.cfg, stored)
        self._remote_version = stored.get("version")
        self.extras = extras
        log.info("remote settings version %s: window %s, staff %s, %s mode", stored.get("version"),
                 settings.window.window_no, settings.window.staff_no, settings.mode)
        return settings

    def _apply_remote(self) -> None:
        settings = self._load_remote()
        if settings is not None:
            self.session.apply(settings)
            self._applied_unrecorded = True
            for target in self._targets():
                fn = getattr(target, "on_settings", None)
                if fn is not None:
                    try:
                        fn(dict(self.extras))
                    except Exception:
                        log.exception("listener %r failed on new settings", target)
        if self._applied_unrecorded:  # written once it succeeds: the buffer may be busy just then
            self._applied_unrecorded = not self._safe_meta(
                status.SETTINGS_APPLIED, {"version": self._remote_version, **self.effective()})

    def effective(self) -> dict[str, Any]:
        """The settings in force (config overlaid with remote settings)."""
        from .remote import FOLLOW_UP_KEYS

        s = self.session.settings
        return {"window": s.window.window_no, "section": s.window.section, "staff_no": s.window.staff_no,
                "staff_name": s.window.staff_name, "mode": s.mode, "reasons_for": s.reasons_for,
                "language": self.extras.get("language"), "staff_photo": self.extras.get("staff_photo"),
                **{k: self.extras[k] for k in FOLLOW_UP_KEYS if k in self.extras}}

    def _housekeeping(self, force: bool = False) -> None:
        now = self.clock.monotonic()
        if force or now >= self._next_settings:
            self._next_settings = now + SETTINGS_INTERVAL
            self._apply_remote()
        if force:
            self._safe_meta(status.DEVICE_STARTED_AT, rfc3339(self.started_at))
            self._safe_meta(status.DEVICE_VERSION, __version__)
            self._safe_meta(status.DEVICE_ID, self.cfg.device.id)
            self._applied_unrecorded = not self._safe_meta(
                status.SETTINGS_APPLIED, {"version": self._remote_version, **self.effective()})
        if force or now >= self._next_health:
            self._next_health = now + HEALTH_INTERVAL
            health = self.health()
            health["session"] = {"state": self.session.state.value, "error": self.session.view().error}
            if health != self._last_health:
                self._last_health = health
                self._safe_meta(status.DEVICE_HARDWARE, health)
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_INTERVAL
            try:
                n = self.buffer.prune(self.cfg.device.retain_days)
                if n:
                    log.info("pruned %d synced events older than %s days", n, self.cfg.device.retain_days)
            except Exception as exc:
                log.warning("pruning the buffer failed: %s", exc)

    def _safe_meta(self, key: str, value: Any) -> bool:
        """Record ``key`` in the buffer's meta; False (logged) when the buffer refused."""
        try:
            self.buffer.set_meta(key, value)
        except Exception as exc:
            log.warning("cannot record %s in the buffer: %s", key, exc)
            return False
        return True


class Answer(Protocol):
    """What :meth:`Device.submit` returns: a :class:`Future`, or on the session's
    own thread an already-finished :class:`_Done` with the same reading API."""

    def result(self, timeout: float | None = None) -> Any: ...
    def exception(self, timeout: float | None = None) -> BaseException | None: ...
    def done(self) -> bool: ...


class _Done:
    """An already-finished Future (what :meth:`Device.submit` returns on the
    session's own thread): the same reading API, without the locks."""

    __slots__ = ("_result", "_exc")

    def __init__(self, result=None, exc: BaseException | None = None):
        self._result, self._exc = result, exc

    @classmethod
    def of(cls, fn, args, kwargs) -> _Done:
        try:
            return cls(fn(*args, **kwargs))
        except Exception as exc:  # handed to the caller, as a Future would
            return cls(exc=exc)

    def result(self, timeout: float | None = None):
        if self._exc is not None:
            raise self._exc
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return self._exc

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    def add_done_callback(self, fn) -> None:
        fn(self)


def _run(fut: Future, fn, args, kwargs) -> None:
    if not fut.set_running_or_notify_cancel():
        return
    try:
        fut.set_result(fn(*args, **kwargs))
    except BaseException as exc:  # handed to the caller through the Future
        fut.set_exception(exc)


def outcome_json(outcome: Outcome) -> str:
    return json.dumps({"position": outcome.position + 1, "stored": outcome.stored,
                       "reason": outcome.reason, "satisfaction": outcome.level.wire if outcome.level else None})


__all__ = ["Device", "Prompt", "buffer_path"]
