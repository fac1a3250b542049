"""Reading columns: on SQLite a child process reads (started ahead of its query); one not used is stopped,
and a query the store refuses is a clear error."""

from __future__ import annotations

import pytest
from sqlalchemy import literal_column, select

from statops.errors import StatopsError
from statops.scoring.prediction_log import TABLE
from statops.store.column_read import ColumnReader
from tests.conftest import sqlite_only


def test_a_reader_that_is_not_used_stops_its_child(workspace) -> None:  # noqa: ANN001
    sqlite_only(workspace, "only SQLite reads in a child process")
    with pytest.raises(RuntimeError), ColumnReader(workspace.store, children=2) as reader:
        children = list(reader._waiting)
        assert len(children) == 2 and all(c.poll() is None for c in children)  # started, waiting for a query
        raise RuntimeError("the caller failed before reading")
    assert all(c.wait(5) is not None for c in children)


def test_a_query_the_store_refuses_is_a_clear_error(workspace) -> None:  # noqa: ANN001
    sqlite_only(workspace, "only SQLite reads in a child process")
    with ColumnReader(workspace.store) as reader:
        frame = reader.read(select(TABLE.c.id, TABLE.c.at), times=("at",))
        assert frame.empty and list(frame.columns) == ["id", "at"]
        with pytest.raises(StatopsError, match="reading columns from .* failed: .*no_such_column"):
            reader.read(select(literal_column("no_such_column")).select_from(TABLE))
