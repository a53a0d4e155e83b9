"""nginx in front of several ``kiosk server`` processes, for the multi-process
tests: a generated configuration in a temp dir, the master in the foreground
(``daemon off``) as a subprocess, listening on a free 127.0.0.1 port.

The ``location`` blocks are those of ``deploy/nginx-kiosk.conf`` (the sample
in docs/operations.md), so the tests exercise the documented retry rules.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from .server import REPO_ROOT, free_port

NGINX = os.environ.get("KIOSK_NGINX", "/usr/sbin/nginx")
SAMPLE = REPO_ROOT / "deploy" / "nginx-kiosk.conf"


def nginx_available() -> tuple[bool, str]:
    if not Path(NGINX).exists():
        return False, f"nginx not found at {NGINX} (apt install nginx)"
    return True, ""


def locations() -> str:
    """The ``location`` blocks of the deployment sample (between its two marker comments)."""
    text = SAMPLE.read_text("utf-8")
    start = text.index("# -- locations --")
    end = text.index("# -- end of locations --")
    return text[start:end]


def config(tmp: Path, port: int, upstreams: Sequence[int]) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in upstreams)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "\n".join(f"    {k}_temp_path {tmp}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/access.log;
{temps}
    upstream kiosk_servers {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 2m;
        {locations()}
    }}
}}
"""


class Nginx(str):
    """The proxy's base URL (it IS that string); ``log()`` is nginx's error log."""

    def __new__(cls, url: str, tmp: Path):
        obj = super().__new__(cls, url)
        obj.tmp = tmp  # type: ignore[attr-defined]
        return obj

    def log(self) -> str:
        path = self.tmp / "error.log"  # type: ignore[attr-defined]
        return path.read_text("utf-8", "replace") if path.exists() else ""


@contextlib.contextmanager
def running_nginx(upstreams: Sequence[int]) -> Iterator[Nginx]:
    """nginx on a free 127.0.0.1 port proxying to 127.0.0.1:PORT for each of ``upstreams``."""
    import requests

    tmp = Path(tempfile.mkdtemp(prefix="kiosk-nginx-"))
    port = free_port()
    (tmp / "nginx.conf").write_text(config(tmp, port, upstreams), "utf-8")
    check = subprocess.run([NGINX, "-t", "-q", "-p", str(tmp), "-e", str(tmp / "error.log"),
                            "-c", str(tmp / "nginx.conf")], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx refused the configuration:\n{check.stderr}")
    proc = subprocess.Popen([NGINX, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(tmp / "nginx.conf"),
                             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = Nginx(f"http://127.0.0.1:{port}", tmp)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {proc.returncode}: {proc.stderr.read().decode()}")
            try:
                requests.get(url + "/healthz", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not answer within 20 s:\n" + url.log()) from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
