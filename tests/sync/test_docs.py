"""docs/sync.md stays true to the code: every option of ``kiosk sync``,
every ``[sync]`` key, every status meta key and every heartbeat field is
documented."""

from __future__ import annotations

import re

from kiosk.cli import build_parser
from kiosk.config import DEVICE_SCHEMA
from sync.client import Client
from sync.heartbeat import Heartbeat

from ..conftest import ROOT

DOC = (ROOT / "docs" / "sync.md").read_text(encoding="utf-8")


def test_every_option_is_documented():
    sub = build_parser()._subparsers._group_actions[0].choices["sync"]
    options = [o for a in sub._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
    assert set(options) >= {"--config", "--once"}
    for opt in options:
        assert opt in DOC, f"docs/sync.md does not explain kiosk sync {opt}"


def test_every_sync_key_is_documented():
    section = next(s for s in DEVICE_SCHEMA.sections if s.name == "sync")
    for key in section.keys:
        assert f"`{key.name}`" in DOC, f"docs/sync.md does not explain [sync] {key.name}"


def test_meta_keys_and_heartbeat_fields_are_documented(buf):
    src = "\n".join((ROOT / "sync" / name).read_text(encoding="utf-8") for name in ("uploader.py", "heartbeat.py"))
    for key in set(re.findall(r'"(sync\.[a-z_]+)"', src)):
        assert f"`{key}`" in DOC, f"docs/sync.md does not explain the meta key {key}"
    beat = Heartbeat(buf, Client("http://127.0.0.1:9", "tok"), device_id="d")
    for field in beat.state():
        assert f"`{field}`" in DOC, f"docs/sync.md does not explain the heartbeat field {field}"
    beat.client.close()
