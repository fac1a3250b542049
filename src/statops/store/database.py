"""Engine, sessions and schema migrations for our store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from statops.errors import StatopsError
from statops.store.audit import append as append_audit

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Store:
    """Our relational store: one engine, short sessions, migrations applied by `upgrade()`."""

    def __init__(self, url: str):
        self.url = normalise_url(url)
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite takes one writer at a time and makes the others sleep and retry (up to 100 ms a try):
        # writers of one process that wait here instead wait only as long as the writer before them.
        self._writer = threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()

    def writer_turn(self) -> Any:
        """Wait for this process's other short writers (on SQLite; nothing to wait for elsewhere)."""
        return self._writer

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A short write transaction, queued behind this process's other short writers on SQLite."""
        with self._writer, self.engine.begin() as connection:
            yield connection

    def _alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        with self.engine.begin() as connection:
            config = self._alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def is_current(self) -> bool:
        """True when the schema is at the newest migration."""
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        try:
            with self.engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
        except OperationalError as exc:
            raise StatopsError(f"cannot reach the store at {self.safe_url}: {exc.orig}") from exc
        return current == head

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def audit(self, session: Session, actor: str, action: str, subject: str, *, before: Any = None,
              after: Any = None, reason: str | None = None, **details: Any) -> None:
        """Record a state change inside the caller's transaction, at the end of the audit hash chain."""
        append_audit(session, actor, action, subject, details, before, after, reason)

    def dispose(self) -> None:
        self.engine.dispose()
