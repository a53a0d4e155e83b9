"""Remote settings arriving with a heartbeat answer: the uploader's side (the
device applies them in :mod:`kiosk.remote`; the server keeps them in :mod:`central.remote`).

The uploader stores them in the buffer's meta table (``settings.remote``),
where the device process picks them up (:mod:`kiosk.remote`); the staff photo
named by them is downloaded into the data directory first, checked against its
sha256, so the screen never shows half a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import requests

from kiosk import remote, status
from kiosk.clock import rfc3339

log = logging.getLogger(__name__)

_EXT = {"image/jpeg": ".jpg", "image/png": ".png"}


def store(buffer, client, data_dir: Path, payload: Any, now: float) -> bool:
    """Keep new settings from a heartbeat answer; True when they changed.

    Invalid settings are logged and ignored (the device keeps its last ones);
    a photo that cannot be fetched now is tried again at the next heartbeat.
    """
    if not isinstance(payload, dict) or not payload.get("version"):
        return False
    current = buffer.get_meta(status.SETTINGS_REMOTE)
    if current and current.get("version") == payload["version"]:
        return False
    try:
        values = remote.validate(payload.get("values") or {})
    except ValueError as exc:
        log.error("the server sent settings the device cannot use (kept the last ones): %s", exc)
        return False
    photo = payload.get("staff_photo")
    if isinstance(photo, dict) and photo.get("url") and photo.get("sha256"):
        try:
            values["staff_photo"] = str(fetch_photo(client, data_dir, photo))
        except (OSError, ValueError, requests.RequestException) as exc:
            log.warning("cannot fetch the staff photo yet (trying again at the next heartbeat): %s", exc)
            return False
    buffer.set_meta(status.SETTINGS_REMOTE, {"version": payload["version"], "values": values, "received_at": rfc3339(now)})
    log.info("new remote settings version %s", payload["version"])
    return True


def fetch_photo(client, data_dir: Path, photo: dict[str, str]) -> Path:
    """Download a staff photo once per checksum; returns its path in the data dir."""
    sha = str(photo["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"staff_photo.sha256 is not a sha256: {sha!r}")
    folder = Path(data_dir) / "staff"
    for ext in _EXT.values():
        have = folder / f"{sha[:16]}{ext}"
        if have.exists():
            return have
    resp = client.session.get(client.server + photo["url"], headers={"Authorization": f"Bearer {client.token}"},
                              timeout=(client.timeout, client.timeout), verify=client.verify,
                              allow_redirects=False)
    if resp.status_code != 200:
        raise ValueError(f"{resp.status_code} fetching {photo['url']}")
    data = resp.content
    if hashlib.sha256(data).hexdigest() != sha:
        raise ValueError("the staff photo does not match its sha256")
    ext = _EXT.get(resp.headers.get("content-type", "").split(";")[0], ".img")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha[:16]}{ext}"
    tmp = target.with_suffix(target.suffix + ".part")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target
