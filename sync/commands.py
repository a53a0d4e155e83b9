"""``kiosk sync [--config P] [--once]``: the uploader process.

Without ``--once`` it uploads and sends heartbeats until SIGTERM/SIGINT, then
exits 0 (a batch in flight is either acknowledged or simply sent again next
time: the server deduplicates). With ``--once`` it drains what is pending now
and exits 0 only if every one of those events got a verdict.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from kiosk import status
from kiosk.exceptions import ConfigError

from . import SyncError

log = logging.getLogger("sync")


class TokenSource:
    """The device token: ``[sync] token``, or the contents of ``token_file``
    (a relative path is inside the data directory). The file is read at
    start; :meth:`reload` returns a new token when the file has changed."""

    def __init__(self, token: str, token_file: str, base_dir: Path, config_path: str | None = None):
        self._config_path = config_path
        self.path: Path | None = None
        if token:
            self.token = token.strip()
            return
        if not token_file:
            raise ConfigError("no device token: set [sync] token or [sync] token_file "
                              "(or enrol the device with `kiosk provision`)", path=config_path, key="sync.token")
        p = Path(token_file).expanduser()
        self.path = p if p.is_absolute() else base_dir / p
        self._stamp = self._stat()
        self.token = self._read(self.path)

    def _stat(self) -> tuple[int, int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return None

    def _read(self, path: Path) -> str:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"cannot read the token file {path}: {why} (expected a file holding "
                              "the device token)", path=self._config_path, key="sync.token_file") from exc
        if not token:
            raise ConfigError(f"the token file {path} is empty", path=self._config_path,
                              key="sync.token_file")
        return token

    def reload(self) -> str | None:
        """The new token when the file changed and is readable, else None."""
        if self.path is None:
            return None
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            token = self._read(self.path)
        except ConfigError as exc:
            log.warning("%s", exc)
            return None
        if token == self.token:
            return None
        self.token = token
        return token


def build(cfg, *, clock=None):
    """The buffer, clients, uploader and heartbeat for a device config."""
    from kiosk.buffer import Buffer
    from kiosk.clock import SystemClock
    from kiosk.config import data_dir
    from kiosk.device import buffer_path

    from .client import Client
    from .heartbeat import Heartbeat
    from .uploader import Uploader

    s = cfg.sync
    if not s.server:
        raise ConfigError("not set: expected the central server URL, like "
                          '"https://rating.example.gov.cn"', path=cfg.path, key="sync.server")
    tokens = TokenSource(s.token, s.token_file, data_dir(cfg), cfg.path)
    clock = clock or SystemClock()
    upload_client = Client(s.server, tokens.token, ca_bundle=s.ca_bundle, timeout=s.timeout_seconds)
    beat_client = Client(s.server, tokens.token, ca_bundle=s.ca_bundle, timeout=s.timeout_seconds)
    buf = Buffer(buffer_path(cfg))
    uploader = Uploader(buf, upload_client, device_id=cfg.device.id, batch_size=s.batch_size,
                        clock=clock, token_source=tokens,
                        recheck_interval=min(30.0, float(s.interval_seconds)))
    beat = Heartbeat(buf, beat_client, device_id=cfg.device.id, interval=s.interval_seconds,
                     clock=clock, data_dir=data_dir(cfg), uploader=uploader, token_source=tokens)
    return buf, uploader, beat


def _setup_logging(verbose: bool) -> None:
    if logging.getLogger().handlers:
        return
    level = logging.DEBUG if verbose or os.environ.get("KIOSK_DEBUG") else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def cmd_sync(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time

    from kiosk import systemd
    from kiosk.config import load_config

    _setup_logging(args.verbose)
    cfg = load_config(args.config)
    buf, uploader, beat = build(cfg)
    stop = threading.Event()
    try:
        if args.once:
            before = buf.counts()["pending"]
            left = uploader.drain(stop.wait)
            beat.send()
            if uploader.stopped:
                raise SyncError(f"uploading stopped: {uploader.stopped}; {left} of {before} pending "
                                f"events kept in the buffer")
            if left:
                raise SyncError(f"{left} of {before} pending events got no verdict "
                                f"(last error: {buf.get_meta(status.SYNC_LAST_ERROR)})")
            log.info("sync --once: %d events uploaded", before)
            return 0

        def on_signal(signum, _frame):
            log.info("signal %d: stopping", signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        workers = [threading.Thread(target=uploader.run, args=(stop,), name="upload", daemon=True),
                   threading.Thread(target=beat.run, args=(stop,), name="heartbeat", daemon=True)]
        for w in workers:
            w.start()
        log.info("uploading %s to %s as %s", buf.path, cfg.sync.server, cfg.device.id)
        watchdog = systemd.Watchdog()
        under_systemd = systemd.ready(f"uploading to {cfg.sync.server}")
        status_at = 0.0
        hung = False
        opened = _identity(buf.path)
        while not stop.wait(1.0):
            if not all(w.is_alive() for w in workers):
                log.critical("an uploader thread died; exiting so the service manager restarts it")
                stop.set()
                return 1
            if _identity(buf.path) != opened:
                # The device moved a damaged buffer aside and started a new file:
                # a fresh process opens the new one.
                log.error("the buffer file %s was replaced; exiting so the service manager "
                          "restarts the uploader on the new file", buf.path)
                stop.set()
                return 1
            if time.monotonic() < uploader.alive_until:
                hung = False
                watchdog.kick()
                if under_systemd and time.monotonic() - status_at >= 10:
                    status_at = time.monotonic()
                    systemd.status(_status_line(uploader, beat))
            elif not hung:
                hung = True
                log.critical("the upload loop is stuck; no more watchdog pings (systemd restarts the "
                             "service)")
        systemd.stopping()
        # A request in flight gets at most a moment to finish; abandoning it is
        # safe (it is resent later and the server deduplicates).
        for w in workers:
            w.join(timeout=2.0)
        return 0
    finally:
        uploader.client.close()
        beat.client.close()
        if not any(t.name in ("upload", "heartbeat") and t.is_alive() for t in threading.enumerate()):
            buf.close()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _status_line(uploader, beat) -> str:
    """What ``systemctl status kiosk-sync`` shows."""
    if uploader.stopped:
        return f"STOPPED: {uploader.stopped}"
    v = uploader.verdicts
    text = (f"{v['accepted'] + v['duplicate']} uploaded, {v['rejected']} rejected since start; "
            f"last ok {uploader.buffer.get_meta(status.SYNC_LAST_OK_AT) or 'never'}")
    if uploader.backoff.failures:
        text += f"; failing ({uploader.backoff.failures} in a row)"
    if beat.last_error:
        text += f"; heartbeat failing: {beat.last_error[:80]}"
    return text


def register(sub) -> None:
    p = sub.add_parser("sync", help="upload buffered events to the central server",
                       description="Upload the device's buffered events to the central server and "
                                   "send heartbeats. Runs until SIGTERM unless --once.")
    p.add_argument("--config", metavar="P", help="device config file (default: $KIOSK_CONFIG or "
                                                 "/etc/kiosk/kiosk.toml)")
    p.add_argument("--once", action="store_true",
                   help="upload what is pending now and exit: 0 if every event got a verdict")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_sync)
