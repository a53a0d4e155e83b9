"""``kiosk doctor``: a checklist a technician can read on site.

Every line is ``OK``, ``WARN`` or ``FAIL`` with what was checked and, when it
is not OK, what to do. FAIL means something stops ratings from being taken or
stored, or stops them from reaching the server; the command then exits 1.
WARN is worth fixing but nothing is lost (an unsynchronised clock, a backlog
that is still moving, rejected events to look at).
"""

from __future__ import annotations

import argparse
import glob
import grp
import importlib.util
import json
import os
import pwd
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config

OK, WARN, FAIL = "OK", "WARN", "FAIL"

#: Below this much free space the buffer may fail to append: FAIL. Below WARN_FREE: WARN.
MIN_FREE = 50 * 1024 * 1024
WARN_FREE = 500 * 1024 * 1024
#: A pending event older than this means uploads are not getting through.
BACKLOG_WARN_SECONDS = 3600.0
UNIT_DIR = Path("/etc/systemd/system")
#: The user the systemd units run as (deploy/install.sh creates it).
SERVICE_USER = "kiosk"


@dataclass
class Check:
    status: str
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<8}  {self.detail}"


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check this device: config, screen, panels, server, token, buffer",
                       description="Check everything a rating window needs and print one OK/WARN/FAIL line "
                                   "per item. Exit status 1 when something blocks ratings or uploads.")
    p.add_argument("--config", metavar="P", help="config file (default $KIOSK_CONFIG or /etc/kiosk/kiosk.toml)")
    p.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    screen = p.add_mutually_exclusive_group()
    screen.add_argument("--touch", dest="touch", action="store_true", default=None,
                        help="check for the touch app (default: when kiosk-app.service is installed, "
                             "else when [device] channel = 4)")
    screen.add_argument("--headless", dest="touch", action="store_false",
                        help="check for a device without a screen")
    p.set_defaults(func=cmd_doctor)


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _group_of(path: str) -> str:
    try:
        return grp.getgrgid(os.stat(path).st_gid).gr_name
    except (KeyError, OSError):
        return "?"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class Doctor:
    """Runs the checks for one config; :meth:`run` returns them in order."""

    def __init__(self, config_path: str | None = None, *, touch: bool | None = None,
                 environ: dict[str, str] | None = None, dev_root: str = "/dev",
                 service_user: str = SERVICE_USER):
        self.config_path = config_path
        self.service_user = service_user
        self.touch = touch
        self.env = os.environ if environ is None else environ
        self.dev = dev_root
        self.checks: list[Check] = []
        self.cfg: Config  # set by check_config, which every other check runs after

    def add(self, status: str, name: str, detail: str) -> None:
        self.checks.append(Check(status, name, detail))

    def run(self) -> list[Check]:
        if not self.check_config():
            return self.checks
        if self.touch is None:
            self.touch = self._touch_configured()
        self.check_font()
        self.check_display()
        self.check_gpio()
        self.check_serial()
        self.check_inputs()
        token = self.check_server()
        if token is not None:
            self.check_token(*token)
        self.check_clock()
        self.check_permissions()
        self.check_disk()
        self.check_buffer()
        return self.checks

    # --- config ------------------------------------------------------------------

    def check_config(self) -> bool:
        from .config import find_config_path, load_config
        from .exceptions import ConfigError

        try:
            self.cfg = load_config(self.config_path)
        except ConfigError as exc:
            self.add(FAIL, "config", f"{exc}")
            return False
        cfg = self.cfg
        where = cfg.path or f"{find_config_path(self.config_path)[0]} missing: embedded defaults"
        desc = f"device {cfg.device.id}, window {cfg.device.window}, {cfg.device.section}, {cfg.ui.mode} mode"
        if cfg.path is None:
            self.add(WARN, "config", f"{where} ({desc}); install with deploy/install.sh or enrol with "
                                     "`kiosk provision`")
        else:
            self.add(OK, "config", f"{where} valid ({desc})")
        return True

    def _touch_configured(self) -> bool:
        if (UNIT_DIR / "kiosk-app.service").exists():
            return True
        if (UNIT_DIR / "kiosk-headless.service").exists():
            return False
        return self.cfg.device.channel == 4

    # --- screen ------------------------------------------------------------------

    def check_font(self) -> None:
        """The same check as the touch app's at start: a font that draws every
        character of the screens, the staff name and the section, or FAIL."""
        from .screens.fonts import FontError, find_cjk_font, required_text

        needed = required_text(self.cfg)
        try:
            path = find_cjk_font(self.cfg.ui.font, needed)
        except FontError as exc:
            self.add(FAIL if self.touch else WARN, "font",
                     f"{exc}" + ("" if self.touch else " (only the touch app needs it)"))
            return
        self.add(OK, "font", f"{path} covers every character of the screens ({len(needed)} characters: "
                             "digits, Latin, punctuation, Chinese, the staff name and the section)")

    def check_display(self) -> None:
        if not self.touch:
            self.add(OK, "display", "not needed (device without a screen)")
            return
        if importlib.util.find_spec("kivy") is None:
            self.add(FAIL, "display", "Kivy is not installed in this Python: the touch app cannot start "
                                      "(reinstall with deploy/install.sh --role kiosk)")
            return
        if self.env.get("WAYLAND_DISPLAY"):
            self.add(OK, "display", f"Wayland display {self.env['WAYLAND_DISPLAY']}")
            return
        if self.env.get("DISPLAY"):
            self.add(OK, "display", f"X display {self.env['DISPLAY']}")
            return
        cards = sorted(glob.glob(f"{self.dev}/dri/card*"))
        if not cards:
            self.add(FAIL, "display", f"no display: no {self.dev}/dri/card* (KMS/DRM), $DISPLAY or "
                                      "$WAYLAND_DISPLAY; check the screen cable and dtoverlay=vc4-kms-v3d in "
                                      "/boot/firmware/config.txt")
            return
        usable = [c for c in cards if os.access(c, os.R_OK | os.W_OK)]
        if not usable:
            self.add(FAIL, "display", f"{cards[0]} is not read/writable for user {_user()} (group "
                                      f"{_group_of(cards[0])}): usermod -aG video,render {_user()}")
            return
        self.add(OK, "display", f"KMS/DRM {', '.join(usable)} (SDL kmsdrm)")

    # --- panels ------------------------------------------------------------------

    def check_gpio(self) -> None:
        gpio = self.cfg.hardware.gpio
        if not gpio.enabled:
            self.add(OK, "gpio", "not used ([hardware.gpio] enabled = false)")
            return
        chips = sorted(glob.glob(f"{self.dev}/gpiochip*"))
        if not chips:
            self.add(FAIL, "gpio", f"[hardware.gpio] is enabled but there is no {self.dev}/gpiochip*: "
                                   "not a Raspberry Pi, or the GPIO driver is missing")
            return
        denied = [c for c in chips if not os.access(c, os.R_OK | os.W_OK)]
        if denied:
            self.add(FAIL, "gpio", f"{denied[0]} is not read/writable for user {_user()} (group "
                                   f"{_group_of(denied[0])}): usermod -aG gpio {_user()}, then restart "
                                   "the service")
            return
        self.add(OK, "gpio", f"{', '.join(chips)} read/write; buttons on BCM {gpio.buttons}")

    def check_serial(self) -> None:
        serial = self.cfg.hardware.serial
        if not serial.enabled:
            self.add(OK, "serial", "not used ([hardware.serial] enabled = false)")
            return
        port = serial.port
        if not os.path.exists(port):
            by_id = sorted(glob.glob(f"{self.dev}/serial/by-id/*"))
            hint = f"; present: {', '.join(by_id)}" if by_id else "; no serial adapter is plugged in"
            self.add(FAIL, "serial", f"serial port {port} does not exist ([hardware.serial] port): plug in the "
                                     f"evaluator box or fix the port{hint}")
            return
        if not os.access(port, os.R_OK | os.W_OK):
            self.add(FAIL, "serial", f"serial port {port} is not read/writable for user {_user()} (group "
                                     f"{_group_of(port)}): usermod -aG dialout {_user()}, then restart the "
                                     "service")
            return
        self.add(OK, "serial", f"{port} present, read/write, {serial.baudrate} baud")

    def check_inputs(self) -> None:
        hw = self.cfg.hardware
        if self.touch or hw.gpio.enabled or hw.serial.enabled or hw.keyboard.enabled or hw.simulated.enabled:
            return
        if self.cfg.ui.mode == "transaction" and self.cfg.local_api.enabled:
            return
        self.add(FAIL, "input", "no way to rate: no touch screen and every [hardware.*] source is disabled")

    # --- server and token ----------------------------------------------------------

    def _token(self) -> tuple[str | None, str]:
        from .config import data_dir

        s = self.cfg.sync
        if s.token:
            return s.token.strip(), "[sync] token"
        if not s.token_file:
            return None, ("no device token: set [sync] token_file (kiosk provision writes "
                          f"{data_dir(self.cfg) / 'token'}) or [sync] token")
        path = Path(s.token_file).expanduser()
        if not path.is_absolute():
            path = data_dir(self.cfg) / path
        try:
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None, f"token file {path} does not exist: enrol with `kiosk provision --server URL --code CODE`"
        except OSError as exc:
            return None, (f"token file {path} is not readable for user {_user()}: {exc.strerror} "
                          f"(chown kiosk: {path})")
        if not token:
            return None, f"token file {path} is empty: enrol again with `kiosk provision`"
        return token, str(path)

    def check_server(self) -> tuple[str, str] | None:
        """Reachability and TLS; returns (token, where) when the token can be tried."""
        import requests

        s = self.cfg.sync
        if not s.server:
            self.add(FAIL, "server", "[sync] server is not set: ratings are stored but never uploaded; "
                                     "enrol with `kiosk provision --server URL --code CODE`")
            return None
        if s.ca_bundle and not os.path.isfile(s.ca_bundle):
            self.add(FAIL, "server", f"[sync] ca_bundle {s.ca_bundle} does not exist: set the server's CA "
                                     "file (PEM) or leave it empty for the system CAs")
            return None
        url = s.server.rstrip("/") + "/healthz"
        timeout = min(float(s.timeout_seconds), 10.0)
        try:
            r = requests.get(url, timeout=(timeout, timeout), verify=s.ca_bundle or True, allow_redirects=False)
        except requests.exceptions.SSLError as exc:
            self.add(FAIL, "server", f"TLS check failed for {s.server}: {_root(exc)}; set [sync] ca_bundle to "
                                     "the CA that signed the server certificate, check the clock")
            return None
        except requests.exceptions.Timeout:
            self.add(FAIL, "server", f"no answer from {url} within {timeout:g} s: network, firewall or proxy")
            return None
        except requests.exceptions.RequestException as exc:
            self.add(FAIL, "server", f"cannot reach {url}: {_root(exc)}; check [sync] server, the network "
                                     "cable and DNS")
            return None
        if r.status_code != 200:
            self.add(FAIL, "server", f"GET {url} answered HTTP {r.status_code}: the server or its database "
                                     "is not healthy (or [sync] server points at another site)")
            return None
        scheme = "TLS verified" + (f" with {s.ca_bundle}" if s.ca_bundle else "") \
            if url.startswith("https:") else "plain HTTP"
        self.add(OK, "server", f"{s.server} reachable ({scheme}, {r.elapsed.total_seconds() * 1000:.0f} ms)")
        if not url.startswith("https:"):
            self.add(WARN, "tls", f"{s.server} is plain HTTP: the device token travels unencrypted; use "
                                  "https:// outside a test setup")
        token, where = self._token()
        if token is None:
            self.add(FAIL, "token", where)
            return None
        return token, where

    def check_token(self, token: str, where: str) -> None:
        import requests

        from .clock import rfc3339

        s = self.cfg.sync
        body: dict[str, Any] = {"schema": 1, "device_id": self.cfg.device.id, "sent_at": rfc3339(time.time())}
        body.update(self._heartbeat_state())
        try:
            r = requests.post(s.server.rstrip("/") + "/api/v1/heartbeat", json=body,
                              headers={"Authorization": f"Bearer {token}"}, timeout=min(float(s.timeout_seconds), 10.0),
                              verify=s.ca_bundle or True, allow_redirects=False)
        except requests.exceptions.RequestException as exc:
            self.add(FAIL, "token", f"the heartbeat did not get an answer: {_root(exc)}")
            return
        reason = _detail(r)
        if r.status_code == 401:
            self.add(FAIL, "token", f"the server rejected the token from {where} (401: {reason}): the device "
                                    "was revoked or re-enrolled elsewhere; enrol again with `kiosk provision`")
        elif r.status_code == 403:
            self.add(FAIL, "token", f"the token from {where} belongs to another device than "
                                    f"[device] id = {self.cfg.device.id!r} (403: {reason})")
        elif 200 <= r.status_code < 300:
            self.add(OK, "token", f"accepted for device {self.cfg.device.id} ({where})")
        else:
            self.add(FAIL, "token", f"POST /api/v1/heartbeat answered HTTP {r.status_code}: {reason}")

    # --- clock, disk, buffer ----------------------------------------------------------

    def check_clock(self) -> None:
        from .clock import SystemClock

        if SystemClock().synced():
            self.add(OK, "clock", "NTP-synchronised")
        else:
            self.add(WARN, "clock", "not NTP-synchronised: ratings are stamped clock_synced=false (the server "
                                    "corrects their times); check `timedatectl` and that NTP can get out")

    def check_permissions(self) -> None:
        """When run by root or a technician: can the service user read and write its files?"""
        try:
            user = pwd.getpwnam(self.service_user)
        except KeyError:
            return  # no service user here (a development machine): nothing to compare with
        if os.geteuid() == user.pw_uid:
            return  # the checks above ran as the service user already
        gids = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if self.service_user in g.gr_mem}
        problems = []
        paths = [(Path(self.cfg.path), "read", f"chown root:{self.service_user} {{p}}; chmod 640 {{p}}")] \
            if self.cfg.path else []
        if self.cfg.sync.token_file and not self.cfg.sync.token:
            tf = Path(self.cfg.sync.token_file).expanduser()
            tf = tf if tf.is_absolute() else self._data_dir() / tf
            paths.append((tf, "read", f"chown {self.service_user}: {{p}}; chmod 600 {{p}}"))
        paths.append((self._data_dir(), "write", f"chown -R {self.service_user}: {{p}}"))
        paths.append((self._data_dir() / "buffer.db", "write", f"chown {self.service_user}: {{p}}"))
        for path, need, fix in paths:
            try:
                st = path.stat()
            except OSError:
                continue
            bits = (0o4 if need == "read" else 0o2) | (0o1 if path.is_dir() else 0)
            if st.st_uid == user.pw_uid:
                ok = (st.st_mode >> 6) & bits == bits
            elif st.st_gid in gids:
                ok = (st.st_mode >> 3) & bits == bits
            else:
                ok = st.st_mode & bits == bits
            if not ok:
                problems.append(f"{path} is not {'readable' if need == 'read' else 'writable'} for "
                                f"{self.service_user} (fix: {fix.format(p=path)})")
        if problems:
            self.add(FAIL, "perms", "; ".join(problems) + " — e.g. after `sudo kiosk provision`")
        else:
            self.add(OK, "perms", f"config, token and data directory usable by user {self.service_user}")

    def _data_dir(self) -> Path:
        from .config import data_dir

        return data_dir(self.cfg)

    def check_disk(self) -> None:
        d = self._data_dir()
        probe = d
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if d.exists() and not os.access(d, os.W_OK | os.X_OK):
            self.add(FAIL, "disk", f"data directory {d} is not writable for user {_user()}: ratings cannot be "
                                   f"stored (chown -R kiosk: {d})")
            return
        try:
            usage = shutil.disk_usage(probe)
        except OSError as exc:
            self.add(FAIL, "disk", f"cannot read the free space of {d}: {exc.strerror}")
            return
        text = f"{_size(usage.free)} free of {_size(usage.total)} for {d}"
        if usage.free < MIN_FREE:
            self.add(FAIL, "disk", f"only {text}: the buffer may refuse new ratings; free space now")
        elif usage.free < WARN_FREE:
            self.add(WARN, "disk", f"only {text}")
        else:
            self.add(OK, "disk", text + ("" if d.exists() else " (directory created on first run)"))

    def _heartbeat_state(self) -> dict[str, Any]:
        """The same state the uploader reports, so the dashboard shows a complete picture."""
        from .device import buffer_path

        if not buffer_path(self.cfg).exists():
            return {}
        try:
            from .buffer import Buffer
            from .clock import SystemClock
            from .status import heartbeat_state, system_uptime

            buf = Buffer(buffer_path(self.cfg))
            try:
                return heartbeat_state(buf, SystemClock(), device_id=self.cfg.device.id, data_dir=self._data_dir(),
                                       uptime=system_uptime())
            finally:
                buf.close()
        except Exception:  # noqa: BLE001 - the buffer check below reports what is wrong
            return {}

    def check_buffer(self) -> None:
        from .buffer import Buffer
        from .device import buffer_path
        from .exceptions import BufferCorruptError
        from .status import buffer_status

        path = buffer_path(self.cfg)
        if not path.exists():
            self.add(OK, "buffer", f"{path} not created yet (the device has not run)")
            return
        try:
            buf = Buffer(path)
        except BufferCorruptError as exc:
            self.add(FAIL, "buffer", f"{path} failed its integrity check ({exc}); the device moves it aside "
                                     "and starts a fresh buffer when it restarts: keep the moved file, its "
                                     "un-uploaded ratings can be recovered")
            return
        except (OSError, Exception) as exc:  # noqa: BLE001 - any open failure is the finding
            self.add(FAIL, "buffer", f"cannot open {path}: {exc}")
            return
        try:
            c = buffer_status(buf, time.time())
            incidents = buf.incidents()
        finally:
            buf.close()
        self.add(OK, "buffer", f"{path} passed its integrity check ({c['events_total']} events)")
        age, stopped, last_ok, last_error = (c["oldest_pending_age_seconds"], c["sync_stopped"], c["last_sync_ok_at"],
                                             c["last_sync_error"])
        hardware = c["hardware"] or {}
        backlog = f"{c['pending']} pending" + (f", oldest {_age(age)} old" if age is not None else "") + \
            f"; last upload {last_ok or 'never'}"
        if stopped:
            self.add(FAIL, "backlog", f"uploading STOPPED: {stopped}; {backlog}")
        elif age is not None and age > BACKLOG_WARN_SECONDS:
            self.add(WARN, "backlog", f"{backlog}; uploads are not getting through"
                                      + (f" (last error: {last_error})" if last_error else "")
                                      + "; is kiosk-sync running?")
        else:
            self.add(OK, "backlog", backlog)
        if c["rejected"]:
            self.add(WARN, "rejected", f"{c['rejected']} events rejected by the server and kept on the device; "
                                       "`kiosk status` shows why")
        for inc in incidents:
            self.add(WARN, "incident", f"{inc['at']} {inc['kind']}: {json.dumps(inc['detail'], ensure_ascii=False)}")
        if isinstance(hardware, dict):
            for name, health in sorted(hardware.items()):
                if isinstance(health, dict) and health.get("ok") is False:
                    why = health.get("last_error") or health.get("error") or "not ok"
                    self.add(WARN, "hardware", f"{name} reported by the running device: {why}")


def _root(exc: BaseException) -> str:
    seen = exc
    while (nxt := seen.__cause__ or seen.__context__) is not None and nxt is not seen:
        seen = nxt
    if isinstance(seen, OSError) and seen.strerror and seen is not exc:
        return seen.strerror[:200]
    return (str(seen) or type(seen).__name__)[:200]


def _detail(r) -> str:
    try:
        body = r.json()
        if isinstance(body, dict):
            return str(body.get("detail") or body.get("error") or body)[:160]
    except ValueError:
        pass
    return r.text[:160]


def cmd_doctor(args: argparse.Namespace) -> int:
    doctor = Doctor(args.config, touch=args.touch)
    checks = doctor.run()
    failed = any(c.status == FAIL for c in checks)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, ensure_ascii=False, indent=2))
    else:
        for c in checks:
            print(c.line())
        n_warn = sum(c.status == WARN for c in checks)
        n_fail = sum(c.status == FAIL for c in checks)
        print(f"{n_fail} FAIL, {n_warn} WARN: " + ("ratings or uploads are blocked, fix the FAIL lines"
                                                   if failed else "ready"))
    return 1 if failed else 0
