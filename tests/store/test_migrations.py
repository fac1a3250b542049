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


def test_the_text_length_is_filled_in_for_rows_logged_before_it_was_kept(workspace: Workspace) -> None:
    from alembic import command
    from sqlalchemy import text

    config = workspace.store._alembic_config()
    with workspace.store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
        connection.execute(text(
            "INSERT INTO prediction_log (id, at, model, version, source, request_id, input_sha256, input_text, code,"
            " confidence, decision, alternatives) VALUES"
            " ('a', CURRENT_TIMESTAMP, 'm', '1', 'api', 'r', :h, 'café owner', '1111', 0.5, 'review', '[]'),"
            " ('b', CURRENT_TIMESTAMP, 'm', '1', 'api', 'r', :h, NULL, '1111', 0.5, 'review', '[]')"),
            {"h": "0" * 64})
    workspace.store.upgrade()
    with workspace.store.engine.connect() as connection:
        lengths = dict(connection.execute(text("SELECT id, text_length FROM prediction_log")).all())
    assert lengths == {"a": 10, "b": None}  # characters, not bytes; unknown where no text was kept
    assert workspace.store.is_current()
