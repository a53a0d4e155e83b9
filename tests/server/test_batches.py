"""POST /api/v1/batches (docs/api.md): results, whole-batch errors, idempotency,
gzip and gzip bombs, tokens and clock repair."""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import datetime, timedelta

import requests
import sqlalchemy as sa

from central.db import engine_for, events, ratings
from testkit.server import detail_event, make_batch, rating_event, revoke_device, unrated_event


def test_accepts_valid_events_in_order(api):
    dev = api.device()
    evs = [rating_event(5), rating_event(1), unrated_event()]
    evs.append(detail_event(evs[1]["id"], ["108", "115"], comment="太慢", phone="13812345678"))
    res = api.results(dev, evs)
    assert [r["id"] for r in res] == [e["id"] for e in evs]
    assert [r["status"] for r in res] == ["accepted"] * 4
    assert all("error" not in r for r in res)


def test_a_batch_answer_says_how_long_the_server_took(api):
    r = api.upload(api.device(), [rating_event(5), unrated_event()])
    assert r.status_code == 200
    timing = dict(part.strip().split(";dur=") for part in r.headers["Server-Timing"].split(","))
    assert set(timing) == {"ingest", "total"}
    assert 0 < float(timing["ingest"]) <= float(timing["total"]) < 30_000


def test_bad_event_is_rejected_naming_the_field_and_the_rest_applied(api):
    dev = api.device()
    good1, good2 = rating_event(4), rating_event(3)
    cases = [
        (rating_event(7), "satisfaction"),
        (rating_event(True), "satisfaction"),
        (rating_event(5, source="pigeon"), "source"),
        (rating_event(5, channel=9), "channel"),
        (rating_event(5, created_at="yesterday"), "created_at"),
        (rating_event(5, created_at="2026-12-01T08:15:02"), "created_at"),
        (rating_event(5, misuse="no"), "misuse"),
        (rating_event(5, clock_synced=None), "clock_synced"),
        (rating_event(5, mono_ms=-1), "mono_ms"),
        (rating_event(5, window_no=None), "window_no"),
        (rating_event(5, staff_name="x\x00y"), "staff_name"),
        ({k: v for k, v in rating_event(5).items() if k != "section"}, "section"),
        (rating_event(5, type="rant"), "type"),
        (rating_event(5, id=""), "id"),
        (detail_event(good1["id"], ["999"]), "reasons"),
        (detail_event(good1["id"], "207"), "reasons"),
        (detail_event(good1["id"], ["207"]), "reasons"),  # 207 belongs to level 2, the rating is 4
        (detail_event(good1["id"], [], phone="call me"), "phone"),
        (unrated_event(staff_no=5), "staff_no"),
        ("not an object", "event"),
    ]
    evs = [good1] + [c[0] for c in cases] + [good2]
    res = api.results(dev, evs)
    assert len(res) == len(evs)
    assert res[0]["status"] == "accepted" and res[-1]["status"] == "accepted"
    for r, (_, field) in zip(res[1:-1], cases, strict=True):
        assert r["status"] == "rejected", r
        assert r["error"].startswith(field + ":"), r
    # the phone number itself is never echoed back
    assert "call me" not in json.dumps(res)


def test_duplicate_and_conflict(api):
    dev = api.device()
    ev = rating_event(2)
    assert api.results(dev, [ev])[0]["status"] == "accepted"
    again = api.results(dev, [ev, dict(ev)])
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    changed = dict(ev, satisfaction=5)
    r = api.results(dev, [changed])[0]
    assert r["status"] == "rejected" and r["error"].startswith("conflict")
    # within one batch: the second copy with another payload is a conflict
    fresh = rating_event(5)
    res = api.results(dev, [fresh, dict(fresh, staff_name="李四")])
    assert res[0]["status"] == "accepted"
    assert res[1]["status"] == "rejected" and "conflict" in res[1]["error"]
    # another device re-sending someone else's id is a conflict too
    other = api.device()
    r = api.results(other, [ev])[0]
    assert r["status"] == "rejected" and "conflict" in r["error"]
    # stored once
    with engine_for(api.db_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ratings)
                            .where(ratings.c.event_id == ev["id"])).scalar_one() == 1


def test_whole_batch_errors(api):
    dev = api.device()
    url = api.url + "/api/v1/batches"
    h = {**dev.headers, "Content-Type": "application/json"}
    ok = make_batch(dev.id, [rating_event(5)])
    assert requests.post(url, data=b"{not json", headers=h, timeout=10).status_code == 400
    assert requests.post(url, data=b"[]", headers=h, timeout=10).status_code == 400
    assert requests.post(url, json=dict(ok, schema=2), headers=h, timeout=10).status_code == 400
    assert requests.post(url, json=dict(ok, events="x"), headers=h, timeout=10).status_code == 400
    assert requests.post(url, json=dict(ok, sent_mono_ms="soon"), headers=h, timeout=10).status_code == 400
    r = requests.post(url, json={k: v for k, v in ok.items() if k != "boot_id"}, headers=h, timeout=10)
    assert r.status_code == 400 and "boot_id" in r.json()["error"]
    # no / bad token
    assert requests.post(url, json=ok, timeout=10).status_code == 401
    r = requests.post(url, json=ok, headers={"Authorization": "Bearer kd_nonsense"}, timeout=10)
    assert r.status_code == 401
    # spoofed device id
    other = api.device()
    r = requests.post(url, json=make_batch(other.id, [rating_event(5)]), headers=h, timeout=10)
    assert r.status_code == 403
    # too many events, too large a body
    r = requests.post(url, json=make_batch(dev.id, [rating_event(5) for _ in range(501)]), headers=h, timeout=30)
    assert r.status_code == 413
    big = make_batch(dev.id, [rating_event(5, staff_name="x" * 60) for _ in range(10)])
    big["padding"] = "y" * (1024 * 1024)
    assert requests.post(url, json=big, headers=h, timeout=30).status_code == 413
    # the same without a Content-Length (chunked): refused while reading
    raw = json.dumps(big).encode()
    chunks = (raw[i:i + 65536] for i in range(0, len(raw), 65536))
    assert requests.post(url, data=chunks, headers=h, timeout=30).status_code == 413
    # unsupported encoding
    r = requests.post(url, data=b"xx", headers={**h, "Content-Encoding": "br"}, timeout=10)
    assert r.status_code == 415
    # nothing of the refused batches was stored
    with engine_for(api.db_url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)
                            .where(events.c.device_id == dev.id)).scalar_one() == 0


def test_revoked_token_gets_401(api):
    dev = api.device()
    assert api.upload(dev, [rating_event(5)]).status_code == 200
    revoke_device(api.db_url, dev.id)
    assert api.upload(dev, [rating_event(5)]).status_code == 401


def test_gzip_body(api):
    dev = api.device()
    evs = [rating_event(5) for _ in range(50)]
    res = api.results(dev, evs, gz=True)
    assert [r["status"] for r in res] == ["accepted"] * 50
    h = {**dev.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    r = requests.post(api.url + "/api/v1/batches", data=b"\x1f\x8b\x08garbage", headers=h, timeout=10)
    assert r.status_code == 400
    truncated = gzip.compress(json.dumps(make_batch(dev.id, evs)).encode())[:-20]
    r = requests.post(api.url + "/api/v1/batches", data=truncated, headers=h, timeout=10)
    assert r.status_code == 400


def test_gzip_bomb_is_refused_without_inflating_it(api):
    dev = api.device()
    # 1 GiB of zeros compresses to about 1 MiB; 200 MiB to ~200 KiB.
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1024 * 1024)
    body = b"".join(comp.compress(chunk) for _ in range(200)) + comp.flush()
    assert len(body) < 1024 * 1024
    h = {**dev.headers, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    r = requests.post(api.url + "/api/v1/batches", data=body, headers=h, timeout=30)
    assert r.status_code == 413
    assert "decompressed" in r.json()["error"]
    # the server is still fine
    assert api.upload(dev, [rating_event(5)]).status_code == 200


def test_clock_repair_keeps_device_time(api):
    dev = api.device()
    wrong = "2020-01-01T00:00:00.000Z"
    same_boot = rating_event(4, created_at=wrong, clock_synced=False, boot_id="b-7", mono_ms=1_000)
    other_boot = rating_event(4, created_at=wrong, clock_synced=False, boot_id="b-6", mono_ms=1_000)
    synced = rating_event(4, created_at="2026-11-30T10:00:00.000Z", clock_synced=True, boot_id="b-7",
                          mono_ms=2_000)
    before = datetime.utcnow()
    res = api.results(dev, [same_boot, other_boot, synced], boot_id="b-7", sent_mono_ms=61_000)
    after = datetime.utcnow()
    assert [r["status"] for r in res] == ["accepted"] * 3
    with engine_for(api.db_url).connect() as conn:
        rows = {r.event_id: r for r in conn.execute(
            sa.select(events.c.event_id, events.c.created_at, events.c.received_at, events.c.repaired_at,
                      ratings.c.rated_at)
            .select_from(events.join(ratings, ratings.c.event_id == events.c.event_id))
            .where(events.c.device_id == dev.id))}
    a = rows[same_boot["id"]]
    assert a.created_at == datetime(2020, 1, 1)
    assert before - timedelta(seconds=61) <= a.repaired_at <= after - timedelta(seconds=59)
    assert a.repaired_at == a.received_at - timedelta(seconds=60)
    assert a.rated_at == a.repaired_at
    b = rows[other_boot["id"]]
    assert b.repaired_at is None and b.rated_at == datetime(2020, 1, 1)
    c = rows[synced["id"]]
    assert c.rated_at == datetime(2026, 11, 30, 10)  # a synced clock is trusted
    assert c.repaired_at is not None


def test_heartbeat_stores_latest_state(api):
    dev = api.device()
    url = api.url + "/api/v1/heartbeat"
    assert requests.post(url, json={"pending": 1}, timeout=10).status_code == 401
    r = requests.post(url, json={"version": "0.1.0", "pending": 3, "rejected": 0}, headers=dev.headers, timeout=10)
    assert r.status_code == 200
    # no settings of its own: only the hall's follow-up values (the deadline rule)
    assert r.json()["settings"]["values"] == {"rectify_days": 5, "rectify_day_kind": "natural"}
    assert r.json()["server_time"].endswith("Z")
    requests.post(url, json={"version": "0.1.0", "pending": 0}, headers=dev.headers, timeout=10)
    assert requests.post(url, data=b"[1]", headers=dev.headers, timeout=10).status_code == 400
    assert requests.post(url, json={"device_id": "someone-else"}, headers=dev.headers,
                         timeout=10).status_code == 403
    listing = api.get("/api/v1/devices", role="viewer").json()
    mine = next(d for d in listing if d["device_id"] == dev.id)
    assert mine["state"] == {"version": "0.1.0", "pending": 0}
    assert mine["last_seen_at"].endswith("Z")


def test_busy_server_sheds_batches_with_503_retry_after(db_url):
    import threading

    from testkit.server import add_device, running_server

    token = add_device(db_url, "busy-1")
    h = {"Authorization": f"Bearer {token}"}
    with running_server(db_url, max_inflight_batches=1) as url:
        batches = [make_batch("busy-1", [rating_event(5) for _ in range(500)]) for _ in range(6)]
        answers: list[requests.Response | None] = [None] * len(batches)
        barrier = threading.Barrier(len(batches))

        def send(i):
            barrier.wait()
            answers[i] = requests.post(url + "/api/v1/batches", json=batches[i], headers=h, timeout=60)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(batches))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in answers)
        assert 200 in codes and 503 in codes, codes
        assert set(codes) == {200, 503}
        assert all(int(r.headers["Retry-After"]) >= 1 for r in answers if r.status_code == 503)
        # the shed batches go through when retried
        for b, r in zip(batches, answers, strict=True):
            if r.status_code == 503:
                again = requests.post(url + "/api/v1/batches", json=b, headers=h, timeout=60)
                assert again.status_code == 200
                assert {x["status"] for x in again.json()["results"]} == {"accepted"}
