"""``kiosk provision --server URL --code CODE``: enrol this device.

Redeems a one-time code made by ``kiosk admin enroll-code`` on the central
server (``POST /api/v1/enroll``), writes the returned token to a 0600 file in
the device data directory and sets ``[device] id/window/section`` and
``[sync] server/token_file`` in the device config. When the local API is
enabled without an inline ``[local_api] token``, it also makes the local API token for the
queue system (0640, ``local_api.token`` in the data directory unless
``[local_api] token_file`` names another file; an existing file is kept) and
sets ``[local_api] token_file``. The rest of an existing config file (other
keys, comments) is kept as it is.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from .exceptions import KioskError


class ProvisionError(KioskError, RuntimeError):
    """The server refused the code or could not be reached."""


def register(sub) -> None:
    p = sub.add_parser("provision", help="enrol this device with a one-time code from the central server",
                       description="Enrol this device: redeem a code from `kiosk admin enroll-code`, store "
                                   "the device token (0600), make the local API token for the queue "
                                   "system (0640, kept when it exists) and update the device config.")
    p.add_argument("--server", required=True, metavar="URL", help="central server, e.g. https://rating.example.gov.cn")
    p.add_argument("--code", required=True, metavar="CODE", help="the one-time enrolment code")
    p.add_argument("--config", metavar="P", help="device config to write (default $KIOSK_CONFIG or "
                                                 "/etc/kiosk/kiosk.toml)")
    p.set_defaults(func=cmd_provision)


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def set_toml_keys(text: str, updates: dict[str, dict[str, str]]) -> str:
    """Set string keys in top-level tables of a TOML text, keeping everything else.

    ``updates`` is ``{"device": {"id": "…"}, "sync": {…}}``. A key line is replaced
    in place; a missing key goes right under its table header; a missing table is
    appended.
    """
    lines = text.splitlines()
    header_re = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")
    for table, keys in updates.items():
        start = next((i for i, line in enumerate(lines)
                      if (m := header_re.match(line)) and m.group(1) == table), None)
        if start is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines.append(f"[{table}]")
            lines.extend(f"{k} = {_toml_str(v)}" for k, v in keys.items())
            continue
        end = next((i for i in range(start + 1, len(lines))
                    if re.match(r"^\s*\[", lines[i])), len(lines))
        for key, value in keys.items():
            key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
            idx = next((i for i in range(start + 1, end) if key_re.match(lines[i])), None)
            if idx is None:
                lines.insert(start + 1, f"{key} = {_toml_str(value)}")
                end += 1
            else:
                lines[idx] = f"{key} = {_toml_str(value)}"
    return "\n".join(lines) + "\n"


def write_private(path: Path, data: str, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with ``mode`` (0600: only the
    service user), owned (when run as root) by the owner of the data
    directory: the service user must read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        if os.geteuid() == 0:
            st = path.parent.stat()
            os.fchown(fd, st.st_uid, st.st_gid)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def enroll(server: str, code: str, *, ca_bundle: str = "", timeout: float = 15.0) -> dict[str, Any]:
    """``POST /api/v1/enroll``: returns device_id, token, window, section, staff_no."""
    import requests

    url = server.rstrip("/") + "/api/v1/enroll"
    try:
        r = requests.post(url, json={"code": code}, timeout=timeout, verify=ca_bundle or True)
    except requests.RequestException as exc:
        raise ProvisionError(f"cannot reach {url}: {type(exc).__name__} (check --server and the network)") from None
    if r.status_code == 403:
        raise ProvisionError("the server refused the code: unknown, already used or expired "
                             "(make a new one with `kiosk admin enroll-code`)")
    if r.status_code != 200:
        raise ProvisionError(f"{url} answered HTTP {r.status_code}; expected 200")
    try:
        out = r.json()
    except ValueError:
        out = None
    if not isinstance(out, dict) or not isinstance(out.get("device_id"), str) \
            or not isinstance(out.get("token"), str):
        raise ProvisionError(f"{url} did not answer with a device id and token")
    return out


def provision(server: str, code: str, config_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Enrol and write the token file and config; returns what was written (no token)."""
    from .config import DEVICE_SCHEMA, data_dir, find_config_path, load_config, parse

    path_str, _ = find_config_path(config_path)
    path = Path(path_str)
    if not re.match(r"https?://[^/\s]+", server):
        raise ProvisionError(f"--server {server!r} is not valid: expected an http(s) URL")
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    cfg = load_config(path, schema=DEVICE_SCHEMA) if path.exists() else parse(DEVICE_SCHEMA, {}, None)
    got = enroll(server, code, ca_bundle=cfg.sync.ca_bundle)
    token_path = data_dir(cfg) / "token"
    write_private(token_path, got["token"] + "\n")
    device = {"id": got["device_id"]}
    if got.get("window"):
        device["window"] = got["window"]
    if got.get("section"):
        device["section"] = got["section"]
    updates = {"device": device,
               "sync": {"server": server.rstrip("/"), "token_file": str(token_path), "token": ""}}
    if got.get("staff_no"):
        updates["staff"] = {"no": got["staff_no"]}
    api_token = None
    if cfg.local_api.enabled and not cfg.local_api.token:  # the queue system's token: never "no token" (docs/local_api.md)
        from .local_api import ensure_token_file, token_location

        api_token = token_location(cfg)
        assert api_token is not None, "token_location is None only when [local_api] token is set inline"
        ensure_token_file(api_token)
        updates["local_api"] = {"token_file": str(api_token)}
    text = set_toml_keys(existing, updates)
    parse(DEVICE_SCHEMA, tomllib.loads(text), str(path))  # never write a config the device cannot read
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.provision")
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        st = path.stat()
        os.chmod(tmp, st.st_mode & 0o777)
        if os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)  # `sudo kiosk provision` keeps the service user's file
    os.replace(tmp, path)
    return {"config": str(path), "token_file": str(token_path), "device_id": got["device_id"],
            "window": got.get("window", ""), "section": got.get("section", ""), "server": server.rstrip("/"),
            "local_api_token_file": str(api_token) if api_token else None}


def cmd_provision(args) -> int:
    out = provision(args.server, args.code, args.config)
    print(f"enrolled as {out['device_id']} (window {out['window'] or '-'}, section {out['section'] or '-'}); "
          f"token in {out['token_file']}; config {out['config']} updated")
    if out["local_api_token_file"]:
        print(f"local API token for the queue system in {out['local_api_token_file']} (docs/local_api.md)")
    return 0
