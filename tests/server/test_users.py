"""Users, login, sessions, the ratings listing (masking, CSV), /healthz and /metrics."""

from __future__ import annotations

import csv
import io
import uuid

import requests

from central.auth import check_password, hash_password
from testkit.server import add_user, detail_event, rating_event

from .conftest import PASSWORD


def test_password_hashing():
    h = hash_password("s3cret-pass")
    assert h.startswith("scrypt$") and "s3cret" not in h
    assert check_password("s3cret-pass", h)
    assert not check_password("s3cret-pasS", h)
    assert not check_password("x", "garbage")
    assert hash_password("s3cret-pass") != h  # salted


def test_login_bearer_cookie_logout(api):
    name = "u-" + uuid.uuid4().hex[:6]
    add_user(api.db_url, name, PASSWORD, "viewer")
    url = api.url
    assert requests.post(url + "/api/v1/login", json={"username": name, "password": "wrong-password"},
                         timeout=10).status_code == 401
    assert requests.post(url + "/api/v1/login", json={"username": "nobody", "password": PASSWORD},
                         timeout=10).status_code == 401
    assert requests.post(url + "/api/v1/login", json={"username": name}, timeout=10).status_code == 400
    s = requests.Session()
    r = s.post(url + "/api/v1/login", json={"username": name, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["role"] == "viewer" and body["token_type"] == "bearer"
    assert "kiosk_session" in s.cookies
    assert "httponly" in r.headers["set-cookie"].lower()
    assert s.get(url + "/api/v1/me", timeout=10).json() == {"username": name, "role": "viewer"}  # cookie
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert requests.get(url + "/api/v1/me", headers=bearer, timeout=10).status_code == 200
    assert s.post(url + "/api/v1/logout", timeout=10).status_code == 204
    assert requests.get(url + "/api/v1/me", headers=bearer, timeout=10).status_code == 401
    # a device token is not a login
    dev = api.device()
    assert requests.get(url + "/api/v1/me", headers=dev.headers, timeout=10).status_code == 401


def test_ratings_listing_masks_phone_unless_admin(api):
    section = "R-" + uuid.uuid4().hex[:6]
    dev = api.device(section=section)
    ev = rating_event(1, section=section, project_no="P-1")
    api.results(dev, [ev, detail_event(ev["id"], ["115"], comment="等太久", phone="13912345678"),
                      rating_event(5, section=section), rating_event(4, section=section, misuse=True)])
    assert api.get("/api/v1/ratings", params={"section": section}).status_code == 401
    viewer = api.get("/api/v1/ratings", role="viewer", params={"section": section}).json()
    assert viewer["total"] == 3
    bad = next(r for r in viewer["ratings"] if r["id"] == ev["id"])
    assert bad["phone"] == "139****5678" and bad["reasons"] == ["115"] and bad["comment"] == "等太久"
    assert bad["level"] == "非常不满意" and bad["case_state"] == "open" and bad["project_no"] == "P-1"
    admin = api.get("/api/v1/ratings", role="admin", params={"section": section}).json()
    assert next(r for r in admin["ratings"] if r["id"] == ev["id"])["phone"] == "13912345678"
    no_misuse = api.get("/api/v1/ratings", role="viewer",
                        params={"section": section, "include_misuse": "false"}).json()
    assert no_misuse["total"] == 2
    paged = api.get("/api/v1/ratings", role="viewer", params={"section": section, "page_size": 2,
                                                                "page": 2}).json()
    assert len(paged["ratings"]) == 1
    assert api.get("/api/v1/ratings", role="viewer", params={"page_size": 0}).status_code == 400
    r = api.get("/api/v1/ratings", role="supervisor", params={"section": section, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 3
    assert {row["phone"] for row in rows} == {"139****5678", ""}
    assert "13912345678" not in r.text


def test_healthz_and_metrics(api):
    r = api.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["db"] == "ok"
    dev = api.device()
    api.results(dev, [rating_event(5), rating_event(9)])
    text = api.get("/metrics").text
    assert 'kiosk_batches_total{status="200"}' in text
    assert 'kiosk_events_total{status="accepted"}' in text
    assert 'kiosk_events_rejected_total{reason="satisfaction"}' in text
    assert 'kiosk_http_request_duration_seconds_count{method="POST",route="/api/v1/batches"}' in text
    assert "13912345678" not in text


def test_openapi_documents_every_endpoint(api):
    spec = api.get("/openapi.json").json()
    for path in ("/api/v1/batches", "/api/v1/heartbeat", "/api/v1/enroll", "/api/v1/stats", "/api/v1/login",
                 "/api/v1/ratings", "/api/v1/cases", "/api/v1/cases/{case_id}",
                 "/api/v1/cases/{case_id}/transition", "/healthz", "/metrics"):
        assert path in spec["paths"], path
    batch = spec["paths"]["/api/v1/batches"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"]["required"][0] == "schema"
    assert {"200", "400", "401", "403", "413"} <= set(batch["responses"])


def test_repeated_failed_logins_are_refused_for_a_while(api):
    name = "bf-" + uuid.uuid4().hex[:6]
    add_user(api.db_url, name, PASSWORD, "viewer")
    url = api.url + "/api/v1/login"
    for _ in range(5):
        assert requests.post(url, json={"username": name, "password": "guess-guess"}, timeout=10).status_code == 401
    r = requests.post(url, json={"username": name, "password": PASSWORD}, timeout=10)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # another user is not affected
    other = "ok-" + uuid.uuid4().hex[:6]
    add_user(api.db_url, other, PASSWORD, "viewer")
    assert requests.post(url, json={"username": other, "password": PASSWORD}, timeout=10).status_code == 200


def test_expired_sessions_are_refused_and_cleared(api):
    from datetime import datetime, timedelta

    import sqlalchemy as sa

    from central.auth import token_hash
    from central.db import engine_for, sessions, users, write_tx

    name = "ex-" + uuid.uuid4().hex[:6]
    add_user(api.db_url, name, PASSWORD, "viewer")
    engine = engine_for(api.db_url)
    with write_tx(engine) as conn:
        uid = conn.execute(sa.select(users.c.id).where(users.c.username == name)).scalar_one()
        conn.execute(sessions.insert().values(token_hash=token_hash("ks_old"), user_id=uid,
                                              created_at=datetime(2026, 1, 1),
                                              expires_at=datetime.utcnow() - timedelta(minutes=1)))
    assert requests.get(api.url + "/api/v1/me", headers={"Authorization": "Bearer ks_old"},
                        timeout=10).status_code == 401
    assert requests.post(api.url + "/api/v1/login", json={"username": name, "password": PASSWORD},
                         timeout=10).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sessions)
                            .where(sessions.c.token_hash == token_hash("ks_old"))).scalar_one() == 0
