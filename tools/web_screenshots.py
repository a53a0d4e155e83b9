"""Screenshots of every web page of the central server, desktop and phone size.

Starts a real server on a throwaway SQLite file, uploads a sample month of
ratings through ``POST /api/v1/batches``, sends device heartbeats, moves a few
cases on, then drives headless Chromium over every page and writes
``docs/screenshots/web_<page>_<desktop|phone>.png``.

    python tools/web_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.server import add_device, add_user, make_batch, rfc3339_ms, running_server  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORD = "screenshots-1"
DEVICES = [("hall-a-01", "综合服务区", "1", "A001", "张丽"), ("hall-a-02", "综合服务区", "2", "A002", "王强"),
           ("hall-b-05", "不动产登记", "5", "B005", "李娜"), ("hall-b-06", "不动产登记", "6", "B006", "赵敏"),
           ("hall-c-09", "社保医保", "9", "C009", "陈军"), ("hall-c-10", "社保医保", "10", "C010", "刘洋")]
COMMENTS = ["等候时间太长，材料要求前后不一致", "窗口人员态度生硬", "办事指南和实际要求不一样，跑了两趟",
            "<script>alert('x')</script> 测试留言"]


def seed(url: str, db: str, days: int = 30, per_day: int = 40, rng: random.Random | None = None) -> None:
    """Upload ``days`` days of ratings (about ``per_day`` a day per section) and heartbeats."""
    rng = rng or random.Random(7)
    now = datetime.now(UTC)
    tokens = {d[0]: add_device(db, d[0], window=d[2], section=d[1], staff_no=d[3]) for d in DEVICES}
    add_device(db, "hall-d-12", window="12", section="公安户政", staff_no="D012")  # registered, never seen
    for dev_id, section, window, staff_no, staff_name in DEVICES:
        events = []
        for day in range(days):
            for _ in range(rng.randint(per_day // 3, per_day // 2)):
                t = now - timedelta(days=day, hours=rng.uniform(0.2, 8))
                sat = rng.choices([5, 4, 3, 2, 1], weights=[70, 18, 7, 3, 2])[0]
                ev = {"id": str(uuid.uuid4()), "type": "rating", "created_at": rfc3339_ms(t),
                      "clock_synced": True, "boot_id": "b", "mono_ms": 1, "satisfaction": sat,
                      "source": "touch", "channel": 4, "window_no": window, "section": section,
                      "staff_no": staff_no, "staff_name": staff_name, "project_no": f"P{rng.randint(10**8, 10**9)}",
                      "ticket_no": None, "prompt_id": None, "misuse": rng.random() < 0.01}
                events.append(ev)
                if sat <= 2 or rng.random() < 0.1:
                    from kiosk.levels import REASONS
                    codes = [r.code for r in rng.sample(REASONS[sat], k=rng.randint(1, 2))]
                    events.append({"id": str(uuid.uuid4()), "type": "rating_detail", "created_at": rfc3339_ms(t),
                                   "clock_synced": True, "boot_id": "b", "mono_ms": 2, "rating_id": ev["id"],
                                   "reasons": codes,
                                   "comment": rng.choice(COMMENTS) if sat <= 2 and rng.random() < 0.6 else None,
                                   "phone": f"139{rng.randint(10**7, 10**8 - 1)}" if sat <= 2 else None})
        for i in range(0, len(events), 400):
            r = requests.post(url + "/api/v1/batches", json=make_batch(dev_id, events[i:i + 400], boot_id="x"),
                              headers={"Authorization": "Bearer " + tokens[dev_id]}, timeout=60)
            r.raise_for_status()
    for n, (dev_id, *_rest) in enumerate(DEVICES):
        hw = {"touch": {"ok": True}}
        if n == 2:
            hw["serial"] = {"ok": False, "connected": False, "port": "/dev/ttyUSB0"}
        if n == 4:
            hw["gpio"] = {"ok": False, "stuck": [2]}
        state = {"device_id": dev_id, "app_version": "1.0.0", "events_total": 1200 + n, "pending": [0, 0, 37, 0, 0, 3][n],
                 "rejected": 1 if n == 2 else 0, "oldest_pending_age_seconds": [None, None, 640, None, None, 12][n],
                 "last_sync_ok_at": rfc3339_ms(), "last_sync_error": "timeout" if n == 2 else None,
                 "clock_synced": n != 3, "hardware": hw, "uptime_seconds": 86400 * (n + 1)}
        requests.post(url + "/api/v1/heartbeat", json=state,
                      headers={"Authorization": "Bearer " + tokens[dev_id]}, timeout=10).raise_for_status()
    from central import db as dbmod
    eng = dbmod.engine_for(db)
    with dbmod.write_tx(eng) as conn:  # one device has gone quiet
        conn.execute(dbmod.devices.update().where(dbmod.devices.c.device_id == "hall-c-10")
                     .values(last_seen_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)))


def act_on_cases(url: str, token: str) -> tuple[int, int]:
    """Move a few cases along so the list shows every state; returns a case with its whole
    history and an open one (with the supervisor's forms)."""
    h = {"Authorization": "Bearer " + token}
    cases = requests.get(url + "/api/v1/cases?page_size=40", headers=h, timeout=10).json()["cases"]
    steps = [["verified"], ["verified", "rectified"], ["verified", "rectified", "fed_back"], ["invalid_requested"]]
    notes = {"verified": "已调取录像核实，情况属实", "rectified": "已对窗口人员进行业务培训并调整材料清单",
             "fed_back": "已电话回访，群众表示认可", "invalid_requested": "系统测试时误按"}
    shown = cases[0]["id"]
    for i, c in enumerate(cases[:12]):
        for to in steps[i % 4]:
            if to == "fed_back":  # 已反馈 needs a follow-up record first
                requests.post(url + f"/api/v1/cases/{c['id']}/followups", headers=h, timeout=10,
                              json={"method": "phone", "reached": True, "satisfied": "yes"}).raise_for_status()
            requests.post(url + f"/api/v1/cases/{c['id']}/transition", json={"to": to, "note": notes[to]},
                          headers=h, timeout=10).raise_for_status()
        if i % 4 == 2:
            shown = c["id"]
    return shown, cases[-1]["id"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "central.db")
        add_user(db, "supervisor", PASSWORD, "supervisor")
        with running_server(db) as url:
            seed(url, db)
            token = requests.post(url + "/api/v1/login", json={"username": "supervisor", "password": PASSWORD},
                                  timeout=10).json()["token"]
            case_id, open_id = act_on_cases(url, token)
            pages = [("login", "/login"), ("overview", "/overview?from={f}&to={t}"), ("ratings", "/ratings"),
                     ("cases", "/cases"), ("case", f"/cases/{case_id}"),
                     ("case_open", f"/cases/{open_id}"), ("devices", "/devices"),
                     ("board", "/board")]
            today = datetime.now(UTC).date()
            fmt = {"f": (today - timedelta(days=29)).isoformat(), "t": today.isoformat()}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                for size, viewport, scale in (("desktop", {"width": 1366, "height": 900}, 1),
                                              ("phone", {"width": 390, "height": 844}, 2)):
                    ctx = browser.new_context(viewport=viewport, device_scale_factor=scale,
                                              is_mobile=size == "phone", locale="zh-CN")
                    page = ctx.new_page()
                    for name, path in pages:
                        if name == "overview" or (name != "login" and "kiosk_session" not in
                                                  {c["name"] for c in ctx.cookies()}):
                            if "kiosk_session" not in {c["name"] for c in ctx.cookies()}:
                                page.goto(url + "/login")
                                page.fill("input[name=username]", "supervisor")
                                page.fill("input[name=password]", PASSWORD)
                                page.click("button[type=submit]")
                                page.wait_for_url("**/overview")
                        page.goto(url + path.format(**fmt))
                        if name == "overview":
                            page.wait_for_selector("#trend-chart[data-rendered='1']")
                            page.wait_for_timeout(300)
                        target = out / f"web_{name}_{size}.png"
                        if name == "board":
                            page.screenshot(path=str(target))
                        else:  # the whole page, but long lists cut at a readable length
                            height = min(page.evaluate("document.documentElement.scrollHeight"),
                                         1800 if size == "phone" else 2000)
                            page.screenshot(path=str(target), full_page=True,
                                            clip={"x": 0, "y": 0, "width": viewport["width"], "height": height})
                        print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
                    ctx.close()
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
