"""docs/local_api.md stays true to the code: every route, error code and
``[local_api]`` key is in it, its curl and Python examples work against a real
device, and no docstring cites design sections that are not in the repository."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import pytest

import kiosk.local_api as la
from kiosk.config import DEVICE_SCHEMA

from .conftest import ROOT
from .local_api_support import TOKEN, running_devices

running = pytest.fixture(running_devices)

DOC = ROOT / "docs" / "local_api.md"


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", doc(), re.S)


def test_every_route_has_its_section():
    headings = re.findall(r"^### `(\w+) (\S+)`$", doc(), re.M)
    for route in la.ROUTES:
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", "<id>", route.pattern)
        assert (route.method, path) in headings, f"docs/local_api.md has no section for {route.method} {path}"


def test_every_error_code_is_in_the_table():
    source = (ROOT / "kiosk" / "local_api.py").read_text(encoding="utf-8")
    codes = {int(c) for c in re.findall(r"ApiError\((\d{3})", source)} | {414, 431, 500, 501}
    table = {int(c) for c in re.findall(r"^\| (\d{3}) \|", doc(), re.M)}
    assert codes <= table, f"undocumented codes: {sorted(codes - table)}"
    assert table <= codes | {408}, f"documented codes the API never sends: {sorted(table - codes)}"


def test_every_key_and_limit_is_documented():
    section = next(s for s in DEVICE_SCHEMA.sections if s.name == "local_api")
    text = doc()
    for key in section.keys:
        default = json.dumps(key.default)  # TOML spells these defaults as JSON does
        assert f"| `{key.name}` | `{default}` |" in text, f"[local_api] {key.name} = {default} is not in the table"
    assert f"{la.MAX_BODY} bytes" in text and f"{la.MAX_DEPTH} levels" in text
    for example in ("transaction-window.toml", "free-window.toml"):
        assert "max_prompts_per_minute" in (ROOT / "config" / example).read_text(encoding="utf-8")


def test_readme_and_cli_doc_link_it():
    assert "(docs/local_api.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/local_api.md" in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")


def test_no_docstring_cites_design_sections_outside_the_repository():
    offenders = []
    for folder in ("kiosk", "sync", "central", "bench", "testkit", "tools", "tests", "docs", "deploy"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".md", ".sh", ".toml", ".html"):
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if re.search(r"DESIGN\s*§|[Ss]ee (the )?design\b", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def _rate_when_prompted(device):
    """The citizen: presses 满意 as soon as a prompt is open."""
    def citizen():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if device.session.prompt is not None:
                device.press(1, "touch").result(5)
                return
            time.sleep(0.01)
    t = threading.Thread(target=citizen, daemon=True)
    t.start()
    return t


def test_the_python_example_works(running, tmp_path):
    r = running()
    token_file = tmp_path / "local_api.token"
    token_file.write_text(TOKEN + "\n")
    (code,) = code_blocks("python")
    code = code.replace('URL = "http://127.0.0.1:8765"', f'URL = "{r.url}"')
    code = code.replace('TOKEN_FILE = "/var/lib/kiosk/local_api.token"', f'TOKEN_FILE = "{token_file}"')
    assert r.url in code and str(token_file) in code
    namespace: dict = {"__name__": "example"}
    exec(compile(code, str(DOC), "exec"), namespace)
    citizen = _rate_when_prompted(r.device)
    state = namespace["ask_for_rating"]("P2026-0001", "A017", wait_seconds=30)
    citizen.join(5)
    assert state["status"] == "rated" and state["satisfaction"] == 4 and state["project_no"] == "P2026-0001"


def test_the_curl_example_works(running, tmp_path):
    r = running()
    token_file = tmp_path / "local_api.token"
    token_file.write_text(TOKEN + "\n")
    (sh,) = code_blocks("sh")
    first = "\n".join(sh.splitlines()[:4])  # read the token, open a prompt
    first = first.replace("http://127.0.0.1:8765", r.url).replace("/var/lib/kiosk/local_api.token", str(token_file))
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", first], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert '"status": "pending"' in out.stdout and '"project_no": "P2026-0001"' in out.stdout
    assert r.device.session.prompt.ticket_no == "A017"
