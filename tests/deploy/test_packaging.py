"""A non-editable install is complete: the wheel holds every tracked file of the
installed packages (migrations, templates, static files with the vendored scripts,
voice prompts) and no test helpers, the build prints no setuptools warning, and a
server installed with ``pip install .`` into a fresh venv migrates a database and
serves its pages and static files from the installed copy."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import requests

from testkit.server import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ("kiosk/", "sync/", "central/")


def _env() -> dict[str, str]:
    """The environment of a user's install: no PYTHONPATH into the work tree, and
    byte-compiling on (with it off, setuptools prints notes about skipping it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _tracked() -> list[str]:
    """Tracked files plus new ones not yet committed (so a new package is checked before
    its first commit), ignored files left out: what a fresh clone would hold."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout
    return sorted({f for f in out.decode().split("\0") if f and (ROOT / f).is_file()})


def _setuptools_warnings(output: str) -> list[str]:
    """Lines of the build backend that warn. pip's own ``WARNING:`` lines (about this
    machine's package index, also from the pip that fills the build environment) are
    not the build's; setuptools writes ``_Warning:``, ``…DeprecationWarning`` or ``warning:``."""
    return [ln for ln in output.splitlines()
            if re.search(r"warning|deprecat|!!$", ln, re.I) and not re.match(r"\s*WARNING: ", ln)]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the tree as a fresh clone has it (builds write build/ and egg-info
    into the source directory; the work tree stays clean)."""
    src = tmp_path_factory.mktemp("pkg") / "src"
    for name in _tracked():
        dest = src / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest)
    return src


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> tuple[Path, str]:
    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(dist), str(source)],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheels = list(dist.glob("kiosk_haochaping-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], r.stdout + r.stderr


def test_the_wheel_builds_without_setuptools_warnings(wheel):
    _path, output = wheel
    assert not _setuptools_warnings(output), "\n".join(_setuptools_warnings(output)[:40])


def test_the_wheel_holds_every_installed_file_and_no_test_helper(wheel):
    path, _output = wheel
    names = set(zipfile.ZipFile(path).namelist())
    shipped = [n for n in _tracked() if n.startswith(INSTALLED) and "__pycache__" not in n]
    missing = [n for n in shipped if n not in names]
    assert not missing, f"tracked files missing from the wheel: {missing}"
    for must in ("central/alembic.ini", "central/migrations/env.py", "central/migrations/script.py.mako",
                 "central/web/templates/base.html", "central/web/static/site.css",
                 "central/web/static/vendor/echarts/echarts.min.js", "kiosk/data/voice/prompt.wav",
                 "kiosk/data/voice/thanks.wav"):
        assert must in names
    assert any(n.startswith("central/migrations/versions/") and n.endswith(".py") for n in names)
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"kiosk", "sync", "central"}
    assert not [n for n in names if n.startswith(("testkit/", "tests/", "bench/", "tools/"))]
    assert not [n for n in names if n.endswith((".pyc", ".db", ".db-wal", ".db-shm"))]


def test_pip_install_dot_into_a_fresh_venv_runs_the_server(source, tmp_path):
    """``pip install .`` (non-editable, ``--no-deps``: the dependencies come from the test
    venv through a path entry placed after the fresh venv's own site-packages)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "-v", str(source)],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    warnings = _setuptools_warnings(r.stdout + r.stderr)
    assert not warnings, "\n".join(warnings[:40])
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "zz_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    work = tmp_path / "run"
    work.mkdir()
    where = subprocess.run(
        [str(py), "-c", "import central, kiosk, sync, importlib.resources as r; "
                        "print(central.__file__); print(kiosk.__file__); print(sync.__file__); "
                        "print(r.files('kiosk').joinpath('data/voice/thanks.wav').is_file())"],
        cwd=work, capture_output=True, text=True, env=_env(), timeout=60)
    assert where.returncode == 0, where.stderr
    lines = where.stdout.split()
    assert all(ln.startswith(site) for ln in lines[:3]), lines
    assert lines[3] == "True"

    port = free_port()
    cmd = [str(venv / "bin" / "kiosk"), "server", "--db", str(work / "central.db"), "--host", "127.0.0.1",
           "--port", str(port)]
    server = ServerProcess(f"http://127.0.0.1:{port}", cmd=cmd, env=_env(), log_path=tmp_path / "server.log",
                           settings={})
    server.start(timeout=60)
    try:
        page = requests.get(server.url + "/login", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        for name in ("site.css", "vendor/echarts/echarts.min.js"):
            got = requests.get(f"{server.url}/static/{name}", timeout=10)
            assert got.status_code == 200, name
            assert got.content == (ROOT / "central/web/static" / name).read_bytes()
        assert f"database sqlite:///{work / 'central.db'}" in server.log()
    finally:
        server.stop()
    assert (work / "central.db").is_file()
