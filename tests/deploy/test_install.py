"""deploy/install.sh: --dry-run, a scratch --root with recording stubs for the
system tools (apt, useradd, systemctl, chown, python3 -m venv, pip), a second
run that changes nothing, upgrade and uninstall keeping the data."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kiosk.config import load_config

from .conftest import ROOT

SCRIPT = ROOT / "deploy" / "install.sh"
PY = sys.executable

RECORD = f"""#!{PY}
import os, shlex, sys
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(shlex.join([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
"""

# Stubs that also do what the real tool would do to the files under --root.
SHADOW = RECORD + r"""
args = sys.argv[1:]
root = args[args.index("--root") + 1] if "--root" in args else ""
name = os.path.basename(sys.argv[0])
passwd, group = root + "/etc/passwd", root + "/etc/group"
def lines(p):
    return open(p).read().splitlines() if os.path.exists(p) else []
def save(p, ls):
    open(p, "w").write("\n".join(ls) + "\n")
if name == "groupadd":
    save(group, lines(group) + [f"{args[-1]}:x:{990 + len(lines(group)) % 9}:"])
elif name == "useradd":
    save(passwd, lines(passwd) + [f"{args[-1]}:x:999:999::/var/lib/kiosk:/usr/sbin/nologin"])
    save(group, lines(group) + [f"{args[-1]}:x:999:"])
elif name == "usermod":
    user, wanted = args[-1], args[args.index("--groups") + 1].split(",")
    out = []
    for line in lines(group):
        g = line.split(":")
        if g[0] in wanted:
            members = [m for m in g[3].split(",") if m]
            g[3] = ",".join(members + [user])
        out.append(":".join(g))
    save(group, out)
elif name == "userdel":
    save(passwd, [l for l in lines(passwd) if not l.startswith(args[-1] + ":")])
"""

VENV = RECORD + f"""
args = sys.argv[1:]
if args[:2] == ["-m", "venv"]:
    d = args[-1]
    os.makedirs(d + "/bin", exist_ok=True)
    for exe in ("python", "pip", "kiosk"):
        p = f"{{d}}/bin/{{exe}}"
        open(p, "w").write({RECORD!r})
        os.chmod(p, 0o755)
    open(d + "/pyvenv.cfg", "w").write("home = /usr/bin\\n")
"""


@pytest.fixture
def stubs(tmp_path):
    bin_dir = tmp_path / "stubs"
    bin_dir.mkdir()
    for name in ("apt-get", "systemctl", "chown"):
        (bin_dir / name).write_text(RECORD)
    for name in ("groupadd", "useradd", "usermod", "userdel"):
        (bin_dir / name).write_text(SHADOW)
    (bin_dir / "python3").write_text(VENV)
    (bin_dir / "apt-cache").write_text(RECORD + "sys.exit(100)\n")  # no python3-lgpio: plain Debian
    for p in bin_dir.iterdir():
        p.chmod(0o755)
    return bin_dir


@pytest.fixture
def target(tmp_path):
    """A scratch root that looks like a fresh Raspberry Pi OS."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("pi-a03\n")
    (root / "etc" / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc" / "group").write_text("root:x:0:\ndialout:x:20:\naudio:x:29:\nvideo:x:44:\n"
                                        "input:x:101:\nrender:x:102:\n")
    (root / "boot" / "firmware").mkdir(parents=True)
    (root / "boot" / "firmware" / "cmdline.txt").write_text("console=tty1 root=PARTUUID=1234-02 rootwait\n")
    return root


class Installer:
    def __init__(self, stubs: Path, root: Path, log: Path):
        self.stubs, self.root, self.log = stubs, root, log

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        self.log.write_text("")
        env = dict(os.environ, PATH=f"{self.stubs}:{os.environ['PATH']}", STUB_LOG=str(self.log))
        proc = subprocess.run(["bash", str(SCRIPT), "--root", str(self.root), *args], capture_output=True,
                              text=True, env=env, timeout=60, check=False)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def calls(self) -> list[list[str]]:
        return [shlex.split(line) for line in self.log.read_text().splitlines()]

    def called(self, *prefix: str) -> list[list[str]]:
        return [c for c in self.calls() if c[:len(prefix)] == list(prefix)]


@pytest.fixture
def install(stubs, target, tmp_path):
    return Installer(stubs, target, tmp_path / "calls.log")


def tree(root: Path) -> dict[str, tuple[str, str]]:
    """relative path → (octal mode, sha256 or 'dir'), the venv left out (stubs made it)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith("opt/kiosk/venv/"):
            continue
        mode = oct(stat.S_IMODE(p.lstat().st_mode))
        out[rel] = (mode, "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def repo_files(pattern: str) -> list[Path]:
    return sorted(ROOT.glob(pattern))


def test_dry_run_lists_every_step_and_changes_nothing(install, target):
    before = tree(target)
    proc = install("--role", "kiosk", "--dry-run")
    out = proc.stdout
    steps = [line for line in out.splitlines() if line.startswith("[")]
    assert [s.split("] ", 1)[1].split(" ")[0] for s in steps] == [
        "check", "install", "create", "install", "write", "create", "install", "screen:", "start", "next"]
    for expected in ("apt-get -o RootDir=", "fonts-wqy-microhei", "libsdl2-2.0-0", "python3-venv",
                     "groupadd --system --root", " gpio", "useradd --system --user-group",
                     "python3 -m venv --system-site-packages", "/opt/kiosk/venv/bin/pip install",
                     "/etc/kiosk/kiosk.toml", "/etc/systemd/system/kiosk-app.service",
                     "mask getty@tty1.service", "consoleblank=0", "enable kiosk-app.service kiosk-sync.service"):
        assert expected in out, expected
    assert tree(target) == before
    assert [c[0] for c in install.calls()] == ["apt-cache"]  # a read-only query, nothing else ran


def test_install_kiosk_writes_exactly_the_expected_files(install, target):
    before = tree(target)
    install("--role", "kiosk")
    after = tree(target)

    expected_new = {"etc/kiosk", "etc/kiosk/kiosk.toml", "etc/systemd", "etc/systemd/system",
                    "etc/systemd/system/kiosk-app.service", "etc/systemd/system/kiosk-sync.service",
                    "opt", "opt/kiosk", "opt/kiosk/venv", "opt/kiosk/config", "opt/kiosk/docs",
                    "var", "var/lib", "var/lib/kiosk", "var/lib/kiosk/local_api.token"}
    expected_new |= {f"opt/kiosk/config/{p.name}" for p in repo_files("config/*.toml")}
    expected_new |= {f"opt/kiosk/docs/{p.name}" for p in repo_files("docs/*.md")}
    assert set(after) - set(before) == expected_new
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"etc/passwd", "etc/group", "boot/firmware/cmdline.txt"}

    # Modes and contents.
    assert after["etc/kiosk/kiosk.toml"][0] == "0o640"
    assert after["var/lib/kiosk"][0] == "0o750"
    assert after["var/lib/kiosk/local_api.token"][0] == "0o640"
    assert re.fullmatch(r"[0-9a-f]{64}\n", (target / "var/lib/kiosk/local_api.token").read_text())
    for unit in ("kiosk-app.service", "kiosk-sync.service"):
        assert after[f"etc/systemd/system/{unit}"][0] == "0o644"
        assert (target / "etc/systemd/system" / unit).read_bytes() == (ROOT / "systemd" / unit).read_bytes()
    for p in repo_files("config/*.toml"):
        assert (target / "opt/kiosk/config" / p.name).read_bytes() == p.read_bytes()
    cfg = load_config(target / "etc/kiosk/kiosk.toml")
    assert cfg.device.id == "pi-a03" and cfg.device.channel == 4 and cfg.sync.server == ""
    assert cfg.sync.token_file == "/var/lib/kiosk/token"
    assert cfg.local_api.token_file == "/var/lib/kiosk/local_api.token" and cfg.local_api.token == ""
    assert cfg.local_api.bind == "127.0.0.1:8765" and cfg.local_api.max_prompts_per_minute == 60
    assert (target / "boot/firmware/cmdline.txt").read_text() == \
        "console=tty1 root=PARTUUID=1234-02 rootwait consoleblank=0\n"
    assert "kiosk:x:999:999::/var/lib/kiosk:/usr/sbin/nologin" in (target / "etc/passwd").read_text()
    group = (target / "etc/group").read_text()
    for g in ("gpio", "dialout", "video", "input", "render", "audio"):
        assert any(line.startswith(f"{g}:") and line.endswith("kiosk") for line in group.splitlines()), g

    # What the units expect is there: the binary, the config, the state directory.
    assert (target / "opt/kiosk/venv/bin/kiosk").exists()
    for unit in ("kiosk-app.service", "kiosk-sync.service"):
        text = (target / "etc/systemd/system" / unit).read_text()
        assert "ExecStart=/opt/kiosk/venv/bin/kiosk " in text and "--config /etc/kiosk/kiosk.toml" in text
        assert "StateDirectory=kiosk\n" in text and "User=kiosk\n" in text

    # The system tools were asked for the right things, inside the root.
    r = str(target)
    apt = install.called("apt-get", "-o", f"RootDir={r}", "install")
    assert apt and {"fonts-wqy-microhei", "libsdl2-2.0-0", "libgles2", "libmtdev1", "python3-venv"} <= set(apt[0])
    assert install.called("groupadd", "--system", "--root", r, "gpio")
    assert len(install.called("useradd")) == 1
    assert install.called("python3", "-m", "venv", "--system-site-packages", f"{r}/opt/kiosk/venv")
    assert install.called("pip", "install", "--quiet", "--upgrade", f"{ROOT}[kiosk]")
    assert install.called("chown", "0:999", f"{r}/etc/kiosk/kiosk.toml")
    assert install.called("chown", "999:999", f"{r}/var/lib/kiosk")
    assert install.called("chown", "999:999", f"{r}/var/lib/kiosk/local_api.token")
    assert install.called("systemctl", f"--root={r}", "enable", "kiosk-app.service", "kiosk-sync.service")
    assert install.called("systemctl", f"--root={r}", "mask", "getty@tty1.service")
    assert not install.called("systemctl", "start") and not install.called("systemctl", "daemon-reload")


def test_second_run_changes_nothing(install, target):
    install("--role", "kiosk")
    first = tree(target)
    proc = install("--role", "kiosk")
    assert tree(target) == first
    assert not install.called("useradd") and not install.called("groupadd") and not install.called("usermod")
    assert not install.called("python3")
    assert "kiosk.toml exists: kept as it is" in proc.stdout
    assert "/var/lib/kiosk/local_api.token exists: kept as it is" in proc.stdout
    assert "already has consoleblank=0" in proc.stdout
    assert "/etc/systemd/system/kiosk-app.service up to date" in proc.stdout


def test_upgrade_keeps_config_buffer_and_token(install, target):
    install("--role", "kiosk")
    config = target / "etc/kiosk/kiosk.toml"
    config.write_text(config.read_text() + '\n# the technician\'s edit\n')
    (target / "var/lib/kiosk/buffer.db").write_bytes(b"SQLite format 3\x00 pretend events")
    (target / "var/lib/kiosk/token").write_text("secret-token\n")
    (target / "var/lib/kiosk/token").chmod(0o600)
    unit = target / "etc/systemd/system/kiosk-app.service"
    unit.write_text("# an older version\n")
    keep = {k: v for k, v in tree(target).items() if k.startswith(("etc/kiosk", "var/lib/kiosk"))}

    proc = install("--role", "kiosk", "--upgrade")
    assert {k: v for k, v in tree(target).items() if k.startswith(("etc/kiosk", "var/lib/kiosk"))} == keep
    assert unit.read_bytes() == (ROOT / "systemd/kiosk-app.service").read_bytes()
    assert install.called("pip", "install", "--quiet", "--upgrade", f"{ROOT}[kiosk]")
    assert "kept as it is" in proc.stdout


def test_upgrade_needs_an_installation(install):
    proc = install("--role", "kiosk", "--upgrade", check=False)
    assert proc.returncode == 1 and "run without --upgrade first" in proc.stderr


def test_uninstall_keeps_the_buffer_unless_purge(install, target):
    install("--role", "kiosk")
    (target / "var/lib/kiosk/buffer.db").write_bytes(b"events")
    proc = install("--uninstall")
    assert not (target / "opt/kiosk").exists()
    assert not (target / "etc/systemd/system/kiosk-app.service").exists()
    assert (target / "var/lib/kiosk/buffer.db").read_bytes() == b"events"
    assert (target / "etc/kiosk/kiosk.toml").exists()
    assert (target / "boot/firmware/cmdline.txt").read_text() == "console=tty1 root=PARTUUID=1234-02 rootwait\n"
    assert install.called("systemctl", f"--root={target}", "disable", "kiosk-app.service", "kiosk-sync.service")
    assert install.called("systemctl", f"--root={target}", "unmask", "getty@tty1.service")
    assert "/var/lib/kiosk (buffer and token)" in proc.stdout

    install("--uninstall", "--purge")
    assert not (target / "var/lib/kiosk").exists() and not (target / "etc/kiosk").exists()
    assert install.called("userdel", "--root", str(target), "kiosk")
    assert "kiosk:" not in (target / "etc/passwd").read_text()


def test_server_role(install, target):
    install("--role", "server")
    assert (target / "etc/systemd/system/kiosk-server.service").exists()
    assert (target / "etc/systemd/system/kiosk-server@.service").read_bytes() == \
        (ROOT / "systemd/kiosk-server@.service").read_bytes()
    assert install.called("systemctl", f"--root={target}", "enable", "kiosk-server.service")
    assert not (target / "etc/systemd/system/kiosk-sync.service").exists()
    assert not (target / "var/lib/kiosk").exists()
    assert oct(stat.S_IMODE((target / "var/lib/kiosk-server").stat().st_mode)) == "0o750"
    from central.config import SERVER_SCHEMA

    cfg = load_config(target / "etc/kiosk/server.toml", schema=SERVER_SCHEMA)
    assert cfg.server.db == "/var/lib/kiosk-server/central.db" and cfg.server.host == "127.0.0.1"
    assert install.called("pip", "install", "--quiet", "--upgrade", f"{ROOT}[server]")
    assert install.called("python3", "-m", "venv", f"{target}/opt/kiosk/venv")  # no system site packages
    assert not install.called("groupadd")
    assert "postgresql-client" in install.called("apt-get", "-o", f"RootDir={target}", "install")[0]
    assert (target / "boot/firmware/cmdline.txt").read_text().endswith("rootwait\n")
    install("--uninstall")
    assert not list((target / "etc/systemd/system").glob("kiosk-*"))
    assert (target / "var/lib/kiosk-server").exists()


def test_headless_role(install, target):
    install("--role", "headless")
    units = sorted(p.name for p in (target / "etc/systemd/system").iterdir())
    assert units == ["kiosk-headless.service", "kiosk-sync.service"]
    assert load_config(target / "etc/kiosk/kiosk.toml").device.channel == 5
    assert not install.called("systemctl", f"--root={target}", "mask", "getty@tty1.service")


@pytest.mark.parametrize("args, message", [
    ((), "--role is required"),
    (("--role", "tablet"), "--role tablet is not valid"),
    (("--role", "kiosk", "--purge"), "--purge only goes with --uninstall"),
])
def test_bad_arguments(install, args, message):
    proc = install(*args, check=False)
    assert proc.returncode == 1 and message in proc.stderr


def test_needs_root_for_a_real_install():
    cmd = ["bash", "-s", "--", "--role", "kiosk"]
    if os.geteuid() == 0:  # check it as an ordinary user (nobody)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    proc = subprocess.run(cmd, input=SCRIPT.read_text(), capture_output=True, text=True, cwd="/", check=False)
    assert proc.returncode == 1 and "run as root" in proc.stderr


def test_help():
    proc = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "--dry-run" in proc.stdout and "KMS/DRM" in proc.stdout
    assert textwrap.dedent(proc.stdout).startswith("Install, upgrade or remove")


def test_dry_run_on_the_real_system_touches_nothing(stubs, tmp_path):
    """Without --root a dry run shows the real paths and still runs nothing."""
    log = tmp_path / "calls.log"
    log.write_text("")
    env = dict(os.environ, PATH=f"{stubs}:{os.environ['PATH']}", STUB_LOG=str(log))
    proc = subprocess.run(["bash", str(SCRIPT), "--role", "headless", "--dry-run"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "$ install -D -m 644 " + str(ROOT / "systemd/kiosk-headless.service") + \
        " /etc/systemd/system/kiosk-headless.service" in proc.stdout or \
        "/etc/systemd/system/kiosk-headless.service up to date" in proc.stdout
    assert "systemctl enable kiosk-headless.service kiosk-sync.service" in proc.stdout
    assert "systemctl start kiosk-headless.service kiosk-sync.service" in proc.stdout
    assert "RootDir" not in proc.stdout and "getty" not in proc.stdout
    assert [shlex.split(line)[0] for line in log.read_text().splitlines()] == ["apt-cache"]


def test_every_device_install_gets_its_own_local_api_token(install, target, tmp_path):
    proc = install("--role", "kiosk", "--dry-run")
    assert "<generated text> " + str(target / "var/lib/kiosk/local_api.token") in proc.stdout
    assert "<a new random token>" in proc.stdout and not (target / "var/lib/kiosk").exists()
    assert "the local API token is in /var/lib/kiosk/local_api.token" in proc.stdout
    install("--role", "headless")
    first = (target / "var/lib/kiosk/local_api.token").read_text()
    other = tmp_path / "other"
    for p in ("etc/hostname", "etc/os-release", "etc/passwd", "etc/group"):
        (other / p).parent.mkdir(parents=True, exist_ok=True)
        (other / p).write_bytes((target / p).read_bytes())
    Installer(install.stubs, other, install.log)("--role", "headless")
    assert (other / "var/lib/kiosk/local_api.token").read_text() != first
    # The device reads it where the config says: the same file.
    cfg = load_config(target / "etc/kiosk/kiosk.toml")
    assert cfg.local_api.token_file == "/var/lib/kiosk/local_api.token"


def test_upgrading_an_install_without_a_local_api_token_adds_one(install, target):
    install("--role", "kiosk")
    token = target / "var/lib/kiosk/local_api.token"
    token.unlink()  # as installed by an older version
    config = (target / "etc/kiosk/kiosk.toml").read_bytes()
    install("--role", "kiosk", "--upgrade")
    assert re.fullmatch(r"[0-9a-f]{64}\n", token.read_text()) and oct(stat.S_IMODE(token.stat().st_mode)) == "0o640"
    assert (target / "etc/kiosk/kiosk.toml").read_bytes() == config
