"""Our store: SQLAlchemy schema and alembic migrations (SQLite by default, PostgreSQL by setting)."""

from statops.store.database import Store

__all__ = ["Store"]
