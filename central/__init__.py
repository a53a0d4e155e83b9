"""好差评 central server: batch ingest, device registry, statistics, bad-rating cases.

FastAPI over SQLAlchemy Core; a SQLite file by default, PostgreSQL for scale.
The schema is owned by the Alembic migrations in ``central/migrations``.
"""

from kiosk.exceptions import KioskError


class CentralError(KioskError):
    """Base class of every central-server error."""


class DatabaseURLError(CentralError, ValueError):
    """A ``--db`` value or ``[server] db`` key that is not a usable database URL."""
