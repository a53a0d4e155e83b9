"""The login throttle has no race: the place of an attempt is taken before its
password is checked, so N parallel wrong passwords for one account are checked
at most ``login_max_failures`` times. The owner of a locked account reads why
and for how long; the lockout is logged."""

from __future__ import annotations

import threading
import uuid

import requests

from testkit.server import add_user, running_server

PASSWORD = "correct horse 1"


def test_parallel_wrong_passwords_are_checked_at_most_the_allowed_number(db_url):
    db = db_url
    name = "race-" + uuid.uuid4().hex[:6]
    add_user(db, name, PASSWORD, "viewer")
    with running_server(db, web={"login_max_failures": 3, "login_window_minutes": 10}) as url:
        n = 24
        codes: list[int] = [0] * n
        barrier = threading.Barrier(n)

        def guess(i: int) -> None:
            barrier.wait()
            codes[i] = requests.post(url + "/api/v1/login", json={"username": name, "password": f"guess-{i:04d}"},
                                     timeout=60).status_code

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes.count(401) == 3 and codes.count(429) == n - 3, sorted(codes)

        r = requests.post(url + "/api/v1/login", json={"username": name, "password": PASSWORD}, timeout=10)
        assert r.status_code == 429
        assert f"the account {name!r} is locked" in r.json()["error"]
        assert "try again in 10 minutes" in r.json()["error"]
        assert 0 < int(r.headers["Retry-After"]) <= 600
        assert f"the account {name!r} is locked for 10 minutes after 3 wrong passwords" in url.log()


def test_a_right_password_does_not_count_as_a_failure(db_url):
    db = db_url
    name = "steady-" + uuid.uuid4().hex[:4]
    add_user(db, name, PASSWORD, "viewer")
    with running_server(db, web={"login_max_failures": 2}) as url:
        for _ in range(5):
            r = requests.post(url + "/api/v1/login", json={"username": name, "password": PASSWORD}, timeout=10)
            assert r.status_code == 200
        assert requests.post(url + "/api/v1/login", json={"username": name, "password": "nope-nope"},
                             timeout=10).status_code == 401
        assert requests.post(url + "/api/v1/login", json={"username": name, "password": PASSWORD},
                             timeout=10).status_code == 200
