"""Two server processes on one PostgreSQL database, both pushing: every push
record reaches the platform exactly once and assess_number is gapless per
project although the batches race."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from central.db import engine_for, ratings
from testkit.province_platform import FakePlatform
from testkit.server import rating_event, running_server

from .conftest import Api, new_pg_database
from .test_province_push import counts, province, wait_for

pytestmark = pytest.mark.pg


def test_two_servers_push_each_record_once(pg_base_url):
    db_url = new_pg_database(pg_base_url)
    with FakePlatform("zhejiang") as fp:
        cfg = province(fp, batch_size=5)
        with running_server(db_url, province=cfg) as a, running_server(db_url, province=cfg) as b:
            apis = [Api(a, db_url), Api(b, db_url)]
            devices = [apis[i % 2].device() for i in range(4)]
            projects = [f"ZJ-{n}" for n in range(6)]

            def upload(i: int) -> None:
                api = apis[i % 2]
                for k in range(5):
                    evs = [rating_event(5 - (j % 3), project_no=projects[(i + j + k) % 6], channel=7 if j == 0 else 4)
                           for j in range(10)]
                    assert {r["status"] for r in api.results(devices[i], evs)} == {"accepted"}

            threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            total = 4 * 5 * 10
            wait_for("every record sent", lambda: counts(apis[0])["sent"] == total, timeout=120)
            assert counts(apis[1]) == {"pending": 0, "sent": total, "rejected": 0, "waiting_detail": 0,
                                       "skipped": 0}
    with engine_for(db_url).connect() as conn:
        numbers = conn.execute(sa.select(ratings.c.project_no, ratings.c.assess_number)).all()
    per: Counter[str] = Counter(p for p, _ in numbers)
    assert sorted(numbers) == sorted((p, n) for p, c in per.items() for n in range(1, c + 1))  # gapless, unique
    assert len(fp.receipts) == total and set(fp.receipts.values()) == {1}
    assert not fp.already  # no record sent twice, not even one answered "already exists"
    assert {r["pf"] for r in fp.records.values()} == {"6", "4"}  # Zhejiang: 短信 is 6
