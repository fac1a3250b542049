"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from statops import Workspace
from statops.store.schema import Base


def test_migrations_match_the_declared_schema(workspace: Workspace) -> None:
    with workspace.store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert workspace.store.is_current()
