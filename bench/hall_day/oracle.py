"""The oracle: every acknowledged press against what the server stored, its
statistics and its public board, all computed independently here."""

from __future__ import annotations

import collections
import time
import uuid
from datetime import datetime, timedelta

import requests

from kiosk.levels import LEVELS, Level

from .hall import SHANGHAI, Hall, Press, log


def self_check(hall: Hall, server: str) -> int:
    """Prove the comparison can fail: forge a lost rating and a wrong level in the
    truth and count the differences found (must be at least 2)."""
    real = hall.presses
    acked = next(p for p in real if p.answer == "ack" and p.via == "console")
    forged = Press(acked.window, Level.VERY_SATISFIED, "console", "ack", event_id=str(uuid.uuid4()), at=time.time())
    wrong = Press(acked.window, LEVELS[(acked.level.position + 1) % 5], "console", "ack",
                  event_id=acked.event_id, at=acked.at, reasons=acked.reasons, project_no=acked.project_no)
    hall.presses = [p for p in real if p is not acked] + [forged, wrong]
    try:
        found = compare(hall, server)
    finally:
        hall.presses = real
    for d in found[:3]:
        log(f"self-check found: {d}")
    return len(found)


def fetch_ratings(server: str) -> list[dict]:
    token = requests.post(server + "/api/v1/login", json={"username": "auditor", "password": "hall-day-auditor"},
                          timeout=30).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    out, page = [], 1
    while True:
        r = requests.get(server + "/api/v1/ratings", params={"page": page, "page_size": 1000}, headers=headers,
                         timeout=60)
        r.raise_for_status()
        body = r.json()
        out.extend(body["ratings"])
        if len(out) >= body["total"] or not body["ratings"]:
            return out
        page += 1


def compare(hall: Hall, server: str) -> list[str]:
    diffs: list[str] = []
    rows = fetch_ratings(server)
    by_id = collections.Counter(r["id"] for r in rows)
    dup = [i for i, c in by_id.items() if c > 1]
    if dup:
        diffs.append(f"{len(dup)} ratings stored more than once: {dup[:5]}")
    server_by_id = {r["id"]: r for r in rows}
    windows = {w.index: w for w in hall.windows}
    stored_presses = [p for p in hall.presses if p.answer in ("ack", "cooldown")]
    # console presses: exact, by id
    truth_ids = set()
    clock_errors = []
    for p in stored_presses:
        w = windows[p.window]
        if p.via != "console":
            continue
        truth_ids.add(p.event_id)
        r = server_by_id.get(p.event_id)
        if r is None:
            diffs.append(f"acknowledged rating {p.event_id} ({w.window_no}, {p.level.zh}) missing on the server")
            continue
        want = {"satisfaction": p.level.wire, "window_no": w.window_no, "section": w.section,
                "staff_no": w.staff_no, "misuse": p.answer == "cooldown", "project_no": p.project_no,
                "reasons": sorted(p.reasons)}
        got = {k: (sorted(r[k]) if k == "reasons" else r[k]) for k in want}
        if got != want:
            diffs.append(f"rating {p.event_id} differs: want {want}, server has {got}")
        rated = datetime.fromisoformat(r["rated_at"].replace("Z", "+00:00")).timestamp()
        err = abs(rated - p.at)
        if w.clock_wrong:
            clock_errors.append(err)
        if err > 5.0 and not w.clock_wrong:
            diffs.append(f"rating {p.event_id} time off by {err:.1f} s on a synchronised device")
    if clock_errors and max(clock_errors) > 5.0:
        diffs.append(f"wrong clock not repaired: worst error {max(clock_errors):.1f} s")
    # events the server has from console windows that nobody acknowledged
    console_devices = {w.device_id for w in hall.windows if not w.serial}
    inflight = sum(len(w.kill_inflight) for w in hall.windows)
    extra = [r for r in rows if r["device_id"] in console_devices and r["id"] not in truth_ids]
    if len(extra) > inflight:
        diffs.append(f"{len(extra)} server ratings nobody acknowledged (at most {inflight} were in flight "
                     f"at a kill): {[e['id'] for e in extra[:5]]}")
    for w in hall.windows:
        if w.prompts_lost:
            diffs.append(f"window {w.window_no}: {w.prompts_lost} unanswered prompts did not become unrated")
    # serial windows: by level and misuse flag
    for w in hall.windows:
        if not w.serial:
            continue
        truth = collections.Counter((p.level.wire, p.answer == "cooldown") for p in stored_presses
                                    if p.window == w.index)
        got = collections.Counter((r["satisfaction"], r["misuse"]) for r in rows if r["device_id"] == w.device_id)
        if truth != got:
            diffs.append(f"serial window {w.window_no}: truth {dict(truth)} != server {dict(got)}")
    # stats API and board against the truth computed here
    diffs += compare_stats(hall, server, stored_presses, windows, extra)
    hall.clock_error_max = round(max(clock_errors), 2) if clock_errors else None
    hall.server_ratings = len(rows)
    return diffs


def truth_groups(hall: Hall, stored, windows, extra) -> dict[str, dict]:
    """Expected stats per section/window/staff, computed from the presses alone."""
    groups: dict[str, dict] = collections.defaultdict(
        lambda: {"count": 0, "levels": {str(k): 0 for k in (5, 4, 3, 2, 1)}, "bad": 0, "unrated": 0})

    def add(keys, wire):
        for key in keys:
            g = groups[key]
            g["count"] += 1
            g["levels"][str(wire)] += 1
            if wire <= 2:
                g["bad"] += 1

    for p in stored:
        if p.answer != "ack":
            continue
        w = windows[p.window]
        add((f"section:{w.section}", f"window:{w.window_no}", f"staff:{w.staff_no}", "total"), p.level.wire)
    for r in extra:  # stored though unacknowledged (in flight at a kill): the server is right to count them
        if not r["misuse"]:
            add((f"section:{r['section']}", f"window:{r['window_no']}", f"staff:{r['staff_no']}", "total"),
                r["satisfaction"])
    for w in hall.windows:
        for key in (f"section:{w.section}", f"window:{w.window_no}", f"staff:{w.staff_no}", "total"):
            groups[key]["unrated"] += w.unrated_expected
    return groups


def compare_stats(hall: Hall, server: str, stored, windows, extra) -> list[str]:
    diffs = []
    truth = truth_groups(hall, stored, windows, extra)
    today = datetime.now(SHANGHAI).date()
    params = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    for group_by, prefix in (("section", "section"), ("window", "window"), ("staff", "staff")):
        body = requests.get(server + "/api/v1/stats", params={**params, "group_by": group_by}, timeout=60).json()
        got = {f"{prefix}:{g['key']}": g for g in body["groups"]}
        if group_by == "section":
            got["total"] = body["total"]
        for key in set(got) | {k for k in truth if k.startswith(prefix) or (group_by == "section" and k == "total")}:
            t, g = truth.get(key), got.get(key)
            if t is None or g is None:
                diffs.append(f"stats {key}: only on {'the server' if t is None else 'the truth side'}")
                continue
            for field_ in ("count", "levels", "bad", "unrated"):
                if t[field_] != g[field_]:
                    diffs.append(f"stats {key} {field_}: truth {t[field_]} != server {g[field_]}")
            if g["bad_unrectified"] != t["bad"]:
                diffs.append(f"stats {key} bad_unrectified: truth {t['bad']} != server {g['bad_unrectified']}")
            want_rate = None if not t["count"] else (t["count"] - t["bad"]) / t["count"]
            if (want_rate is None) != (g["good_rate"] is None) or (
                    want_rate is not None and abs(want_rate - g["good_rate"]) > 1e-6):
                diffs.append(f"stats {key} good_rate: truth {want_rate} != server {g['good_rate']}")
    diffs += compare_board(server, truth)
    return diffs


def compare_board(server: str, truth: dict) -> list[str]:
    """The public board (its figures in ``/board.json``, today's period) shows each
    section's count and 差评数: they must equal the truth; the page and its figures
    carry no personal data."""
    page = requests.get(server + "/board?period=today", timeout=30)
    r = requests.get(server + "/board.json?period=today", timeout=30)
    if page.status_code != 200 or r.status_code != 200:
        return [f"/board answered {page.status_code}, /board.json {r.status_code}"]
    shown = {row["key"]: row for p in r.json()["pages"] if p["kind"] == "section" for row in p["rows"]}
    diffs = []
    for key, t in truth.items():
        if not key.startswith("section:"):
            continue
        name = key.split(":", 1)[1]
        if name not in shown:
            diffs.append(f"board: section {name} missing")
            continue
        if shown[name]["count"] != t["count"]:
            diffs.append(f"board: section {name} shows {shown[name]['count']} ratings, truth {t['count']}")
    if any(ch in page.text + r.text for ch in ("138****", "phone")):
        diffs.append("board shows personal data")
    return diffs
