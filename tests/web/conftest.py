"""Fixtures for the web page tests: a real ``kiosk server`` subprocess on a
SQLite file holding a known data set uploaded through ``POST /api/v1/batches``,
users of every role, and headless Chromium (Debian's, never downloaded)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from testkit.server import ServerProcess, add_device, add_user, make_batch, rfc3339_ms, running_server

PASSWORD = "web-tests-pw1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PHONE = "13812345678"
XSS = "<script>window.__xss=1;alert('x')</script><img src=x onerror=\"window.__xss=2\">投诉"
AREA = "440305"


@contextlib.contextmanager
def web_server(db: str, server: dict[str, Any] | None = None, **tables: dict[str, Any]) -> Iterator[ServerProcess]:
    """``kiosk server`` on 127.0.0.1 (:func:`testkit.server.running_server`) with ``[server]``
    keys and other config tables (``web={…}, alerts={…}``)."""
    with running_server(db, **(server or {}), **tables) as url:
        yield url


def ev_rating(sat: int, *, t: datetime, section: str, window: str, staff: str, name: str,
              misuse: bool = False, project_no: str | None = None) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": "rating", "created_at": rfc3339_ms(t), "clock_synced": True,
            "boot_id": "boot-w", "mono_ms": 1000, "satisfaction": sat, "source": "touch", "channel": 4,
            "window_no": window, "section": section, "staff_no": staff, "staff_name": name,
            "project_no": project_no, "ticket_no": None, "prompt_id": None, "misuse": misuse}


def ev_detail(rating: dict, reasons: list[str], comment: str | None = None, phone: str | None = None) -> dict:
    return {"id": str(uuid.uuid4()), "type": "rating_detail", "created_at": rating["created_at"],
            "clock_synced": True, "boot_id": "boot-w", "mono_ms": 1001, "rating_id": rating["id"],
            "reasons": reasons, "comment": comment, "phone": phone}


def ev_unrated(*, t: datetime, section: str, window: str, staff: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": "unrated", "created_at": rfc3339_ms(t), "clock_synced": True,
            "boot_id": "boot-w", "mono_ms": 1000, "prompt_id": str(uuid.uuid4()), "project_no": None,
            "ticket_no": None, "staff_no": staff, "staff_name": "", "window_no": window, "section": section,
            "channel": 4}


STAFF = [("综合服务区", "1", "A001", "张三"), ("综合服务区", "2", "A002", "李四"),
         ("不动产登记", "5", "B005", "王五"), ("社保医保", "9", "C009", "赵六")]


@dataclass
class Dataset:
    """What was uploaded: the events, the XSS rating and the bad ratings."""

    events: list[dict] = field(default_factory=list)
    xss_rating_id: str = ""
    bad_ids: list[str] = field(default_factory=list)

    @property
    def ratings(self) -> list[dict]:
        return [e for e in self.events if e["type"] == "rating"]


def known_dataset() -> Dataset:
    """A fixed mix over the last three days: every level, misuse, unrated, reasons,
    a comment with markup and a phone number."""
    ds = Dataset()
    now = datetime.now(UTC) - timedelta(minutes=5)
    pattern = [5, 5, 4, 3, 5, 2, 4, 1, 5, 3]
    for day in range(3):
        for i, (section, window, staff, name) in enumerate(STAFF):
            for j, sat in enumerate(pattern[(i + day) % 3:]):
                t = now - timedelta(days=day, minutes=7 * j + i)
                r = ev_rating(sat, t=t, section=section, window=window, staff=staff, name=name,
                              misuse=(j == 0 and i == 1), project_no=f"P{day}{i}{j:02d}")
                ds.events.append(r)
                if sat <= 2:
                    if not r["misuse"]:
                        ds.bad_ids.append(r["id"])
                    ds.events.append(ev_detail(r, ["207", "214"] if sat == 2 else ["115"]))
            ds.events.append(ev_unrated(t=now - timedelta(days=day, minutes=3), section=section,
                                        window=window, staff=staff))
    x = ev_rating(1, t=now, section="综合服务区", window="1", staff="A001", name="张三", project_no="PXSS")
    ds.events += [x, ev_detail(x, ["113", "115"], comment=XSS, phone=PHONE)]
    ds.xss_rating_id = x["id"]
    ds.bad_ids.append(x["id"])
    return ds


@dataclass
class Site:
    url: str
    db: str
    data: Dataset
    device_token: str
    tokens: dict[str, str] = field(default_factory=dict)

    def api_token(self, username: str) -> str:
        if username in self.tokens:
            return self.tokens[username]
        r = requests.post(self.url + "/api/v1/login", json={"username": username, "password": PASSWORD}, timeout=10)
        r.raise_for_status()
        self.tokens[username] = r.json()["token"]
        return self.tokens[username]

    def api(self, path: str, username: str = "admin", **params) -> Any:
        r = requests.get(self.url + path, params=params,
                         headers={"Authorization": "Bearer " + self.api_token(username)}, timeout=30)
        r.raise_for_status()
        return r.json()

    def session(self, username: str) -> requests.Session:
        """A requests session holding the page cookie of ``username``."""
        s = requests.Session()
        s.post(self.url + "/api/v1/login", json={"username": username, "password": PASSWORD},
               timeout=10).raise_for_status()
        return s

    def case_for(self, rating_id: str) -> dict:
        cases = self.api("/api/v1/cases", page_size=1000)["cases"]
        return next(c for c in cases if c["rating_id"] == rating_id)


def upload(url: str, device_id: str, token: str, events: list[dict]) -> None:
    for i in range(0, len(events), 200):
        r = requests.post(url + "/api/v1/batches", json=make_batch(device_id, events[i:i + 200], boot_id="other"),
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
        r.raise_for_status()
        assert all(x["status"] == "accepted" for x in r.json()["results"]), r.json()


def upload_by_window(url: str, db: str, events: list[dict], devices: dict[tuple[str, str], str]) -> None:
    """Upload ``events`` from the device registered at each (section, window)
    (``devices`` maps them to device ids; a device is added for one not in it):
    a device's window and section come from its registration, and a detail
    goes with its rating."""
    tokens: dict[str, str] = {}
    by_device: dict[str, list[dict]] = {}
    device_of: dict[str, str] = {}
    staff_of: dict[str, str] = {}
    for e in events:
        if e["type"] == "rating_detail":
            device_id = device_of[e["rating_id"]]
        else:
            place = (e["section"], e["window_no"])
            if place not in devices:
                devices[place] = f"web-dev-{len(devices) + 1}"
            device_id = devices[place]
            device_of[e["id"]] = device_id
            staff_of.setdefault(device_id, e["staff_no"])
        by_device.setdefault(device_id, []).append(e)
    for (section, window), device_id in devices.items():
        if device_id in by_device:
            tokens[device_id] = add_device(db, device_id, window=window, section=section,
                                           staff_no=staff_of[device_id])
            upload(url, device_id, tokens[device_id], by_device[device_id])


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[Site]:
    db = str(tmp_path_factory.mktemp("web") / "central.db")
    for user, role in (("admin", "admin"), ("sup", "supervisor"), ("viewer", "viewer")):
        add_user(db, user, PASSWORD, role)
    token = add_device(db, "web-dev-1", window="1", section="综合服务区", staff_no="A001")
    add_device(db, "web-dev-2", window="5", section="不动产登记", staff_no="B005")
    with web_server(db, web={"area_code": AREA}) as url:
        data = known_dataset()
        upload_by_window(url, db, data.events, {("综合服务区", "1"): "web-dev-1", ("不动产登记", "5"): "web-dev-2"})
        token = add_device(db, "web-dev-1", window="1", section="综合服务区", staff_no="A001")
        yield Site(str(url), db, data, token)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageErrors(list):
    """Console errors and uncaught exceptions seen by a page (CSP violations included)."""


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    pg = context.new_page()
    errors = PageErrors()
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    return pg


def as_user(page, site: Site, username: str) -> None:
    """Give the page's browser the session cookie of ``username`` (logged in once per run)."""
    page.context.add_cookies([{"name": "kiosk_session", "value": site.api_token(username), "url": site.url}])


def login(page, site: Site, username: str) -> None:
    """Log in through the login form."""
    page.goto(site.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/overview**")
