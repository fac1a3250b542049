"""Reading a query's result as columns, for reads of a million rows.

Through ADBC, into Arrow: no Python object per value (the DB-API cursor builds a tuple and an object for
every value, three times slower than the query itself on monitoring's windows). On PostgreSQL in this
process (binary COPY). On SQLite in a child process (`sqlite_columns.py`): ADBC's SQLite driver carries a
second copy of the SQLite library, and two copies in one process neither share locks nor see each other's
WAL (in this process it read a stale database), which SQLite's authors warn can corrupt it. Where the
child cannot run (an in-memory database, the driver not installed), Python's own sqlite3 reads it here.

The query's values are rendered into its text by SQLAlchemy (quoted by the dialect, as the store keeps
them), since ADBC binds its own types."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Select

from statops.errors import StatopsError
from statops.store.database import Store

_CHILD = Path(__file__).with_name("sqlite_columns.py")
_HAS_SQLITE_DRIVER = importlib.util.find_spec("adbc_driver_sqlite") is not None


def read_frame(store: Store, query: Select[Any], times: Collection[str] = ()) -> pd.DataFrame:
    """The rows of `query` as a DataFrame (see ColumnReader.read)."""
    with ColumnReader(store) as reader:
        return reader.read(query, times)


class ColumnReader:
    """Reads queries' results from `store` as columns. On SQLite, the child process of the first read starts
    when the reader is made, so that its start-up (importing Arrow and the driver: 0.4 s) overlaps what the
    caller does until then; leaving the `with` block stops a child that was not used."""

    def __init__(self, store: Store):
        self.store = store
        url = store.engine.url
        self._database = url.database if url.get_backend_name() == "sqlite" else None
        self._waiting = self._start_child()

    def __enter__(self) -> ColumnReader:
        return self

    def __exit__(self, *_: object) -> None:
        if self._waiting is not None:
            self._waiting.kill()
            self._waiting.wait()
            self._waiting = None

    def read(self, query: Select[Any], times: Collection[str] = ()) -> pd.DataFrame:
        """The rows of `query` as a DataFrame, column names from the query's labels. The columns named in
        `times` come back as UTC times (SQLite keeps them as text); the other columns' types are the
        driver's (on SQLite read in this process, Python objects): the caller sets the types it needs."""
        url = self.store.engine.url
        names = [column.name for column in query.selected_columns]
        sql = str(query.compile(dialect=self.store.engine.dialect, compile_kwargs={"literal_binds": True}))
        if url.get_backend_name() == "sqlite":
            table = self._sqlite_child(sql)
            if table is None:
                frame = _sqlite_here(self.store, query, names)
                for name in times:
                    frame[name] = pd.to_datetime(frame[name], format="ISO8601", utc=True)
                return frame
        elif url.get_backend_name() == "postgresql":
            import adbc_driver_postgresql.dbapi

            uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
            with adbc_driver_postgresql.dbapi.connect(uri) as connection, connection.cursor() as cursor:
                cursor.execute(sql)
                table = cursor.fetch_arrow_table()
        else:
            raise StatopsError(f"statops keeps its store in SQLite or PostgreSQL, not {url.get_backend_name()}")
        table = table.rename_columns(names)
        for name in times:  # SQLite's text ('2025-03-03 10:00:00.123456', in UTC) parsed by Arrow: 20 ms a million
            column = table[name]
            if not pa.types.is_timestamp(column.type):
                column = column.cast(pa.timestamp("us"))
            table = table.set_column(names.index(name), name, column.cast(pa.timestamp("us", tz="UTC")))
        return table.to_pandas()

    def _start_child(self) -> subprocess.Popen[bytes] | None:
        """A child that reads SQLite into Arrow (it waits for its query on stdin); None where none can run."""
        database = self._database
        if not database or database == ":memory:" or database.startswith("file:") or not _HAS_SQLITE_DRIVER:
            return None
        try:
            return subprocess.Popen([sys.executable, "-I", str(_CHILD), str(Path(database).resolve())],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError:  # no interpreter to start (an embedded Python): read here
            return None

    def _sqlite_child(self, sql: str) -> pa.Table | None:
        """The result of `sql` read by a child process; None where none can run."""
        child, self._waiting = self._waiting or self._start_child(), None
        if child is None:
            return None
        out, err = child.communicate(sql.encode())
        if child.returncode == 2:  # the driver went missing after all: read here
            return None
        if child.returncode != 0:
            raise StatopsError(f"reading columns from {self._database} failed: "
                               f"{err.decode(errors='replace').strip()[-500:]}")
        return pa.ipc.open_stream(pa.py_buffer(out)).read_all()


def _sqlite_here(store: Store, query: Select[Any], names: list[str]) -> pd.DataFrame:
    with store.engine.connect() as connection:
        result = connection.execute(query)
        rows = result.cursor.fetchall() if result.cursor is not None else []
    # one object array, then a column view each: pandas infers nothing (a third of the time of
    # DataFrame(rows) on a million rows)
    values = np.array(rows, dtype=object).reshape(len(rows), len(names))
    return pd.DataFrame({name: pd.Series(values[:, i], dtype=object) for i, name in enumerate(names)})
