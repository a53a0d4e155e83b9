"""pytest fixtures shared by every test directory (registered from tests/conftest.py).

``pg_base_url``: one throwaway PostgreSQL cluster for the whole session,
skipped where the PostgreSQL binaries are missing; a test takes its own
database in it with :func:`testkit.pg.new_pg_database`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .pg import pg_available, postgres_cluster


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:PORT/postgres`` of the session's cluster."""
    ok, reason = pg_available()
    if not ok:
        pytest.skip(reason)
    with postgres_cluster() as url:
        yield url
