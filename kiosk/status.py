"""The device's state, assembled in one place.

``kiosk status``, the heartbeat the uploader sends, the technician screen and
``kiosk doctor`` all show the same facts: the buffer's counts, how old the
oldest pending event is, and what the device process and the uploader wrote
in the buffer's meta table. The meta keys are named here, once, for the
writers (the device, the uploader, the technician screen) and the readers.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .clock import Clock, parse_rfc3339, rfc3339

if TYPE_CHECKING:
    from .buffer import Buffer
    from .config import Config

# --- the buffer's meta keys ---------------------------------------------------------
#: Written by the uploader.
SYNC_LAST_OK_AT = "sync.last_ok_at"
SYNC_LAST_ERROR = "sync.last_error"
SYNC_LAST_ERROR_AT = "sync.last_error_at"
SYNC_STOPPED = "sync.stopped"
#: Written by the technician screen ("sync now"), read by the uploader.
SYNC_REQUESTED = "sync.requested"
#: Written by the device process.
DEVICE_STARTED_AT = "device.started_at"
DEVICE_VERSION = "device.version"
DEVICE_ID = "device.id"
DEVICE_HARDWARE = "device.hardware"
SETTINGS_APPLIED = "settings.applied"
#: The remote settings last received (written by the uploader, applied by the device).
SETTINGS_REMOTE = "settings.remote"


def system_uptime() -> float | None:
    """Seconds since the machine booted, None when it cannot be read."""
    try:
        with open("/proc/uptime", encoding="ascii") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def disk_free(path: str | os.PathLike[str]) -> int | None:
    """Free bytes on the file system holding ``path``, None when it cannot be read."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def pending_age(oldest_created_at: str | None, now: float) -> float | None:
    """Seconds since the oldest pending event was made (never negative), None
    when nothing is pending or its time cannot be read."""
    if not oldest_created_at:
        return None
    try:
        return max(0.0, round(now - parse_rfc3339(oldest_created_at), 3))
    except ValueError:
        return None


def buffer_status(buffer: Buffer, now: float) -> dict[str, Any]:
    """The buffer's counts (:meth:`Buffer.counts`) with the pending age and what
    the uploader and the device process recorded in the meta table."""
    out = buffer.counts()
    out["oldest_pending_age_seconds"] = pending_age(out["oldest_pending_created_at"], now)
    out.update({
        "last_sync_ok_at": buffer.get_meta(SYNC_LAST_OK_AT),
        "last_sync_error": buffer.get_meta(SYNC_LAST_ERROR),
        "last_sync_error_at": buffer.get_meta(SYNC_LAST_ERROR_AT),
        "sync_stopped": buffer.get_meta(SYNC_STOPPED),
        "device_started_at": buffer.get_meta(DEVICE_STARTED_AT),
        "hardware": buffer.get_meta(DEVICE_HARDWARE),
    })
    return out


def heartbeat_state(buffer: Buffer, clock: Clock, *, device_id: str, data_dir: str | os.PathLike[str],
                    sync_stopped: str | None = None, uptime: float | None = None) -> dict[str, Any]:
    """The body of ``POST /api/v1/heartbeat`` (docs/api.md): what a supervisor needs
    to see that a device is healthy. ``sync_stopped`` is the running uploader's
    own reason when it knows one newer than the buffer's."""
    now = clock.time()
    st = buffer_status(buffer, now)
    return {
        "schema": 1,
        "device_id": device_id,
        "sent_at": rfc3339(now),
        "boot_id": clock.boot_id,
        "sent_mono_ms": int(clock.mono_ms()),
        "app_version": __version__,
        "events_total": st["events_total"],
        "pending": st["pending"],
        "rejected": st["rejected"],
        "oldest_pending_created_at": st["oldest_pending_created_at"],
        "oldest_pending_age_seconds": st["oldest_pending_age_seconds"],
        "last_sync_ok_at": st["last_sync_ok_at"],
        "last_sync_error": st["last_sync_error"],
        "last_sync_error_at": st["last_sync_error_at"],
        "sync_stopped": sync_stopped or st["sync_stopped"],
        "clock_synced": bool(clock.synced()),
        "disk_free_bytes": disk_free(data_dir),
        "hardware": st["hardware"],
        "app_started_at": st["device_started_at"],
        "uptime_seconds": uptime,
    }


def local_status(cfg: Config) -> dict[str, Any]:
    """Everything ``kiosk status`` shows, as one dict (docs/cli.md names the keys
    other programs rely on)."""
    from .buffer import Buffer
    from .device import buffer_path
    from .local_api import describe

    path = buffer_path(cfg)
    out: dict[str, Any] = {"device_id": cfg.device.id, "window": cfg.device.window,
                           "section": cfg.device.section, "mode": cfg.ui.mode,
                           "server": cfg.sync.server or None, "buffer": str(path),
                           "config": cfg.path, "local_api": describe(cfg)}
    if not path.exists():
        out.update({"events_total": 0, "pending": 0, "synced": 0, "rejected": 0,
                    "ratings_by_level": {k: 0 for k in "54321"}, "last_sync_ok_at": None,
                    "last_sync_error": None, "note": "no buffer yet: the device has not run"})
        return out
    buf = Buffer(path)
    try:
        out.update(buffer_status(buf, time.time()))
        age = out["oldest_pending_age_seconds"]
        out["oldest_pending_age_seconds"] = round(age, 1) if age is not None else None
        out["settings"] = buf.get_meta(SETTINGS_APPLIED)
        out["rejected_events"] = [
            {"id": r["event"]["id"], "type": r["event"]["type"], "error": r["error"]} for r in buf.rejected(10)]
        out["incidents"] = buf.incidents()
        out["schema_version"] = buf.version
    finally:
        buf.close()
    out["disk_free_bytes"] = disk_free(Path(path).parent)
    return out
