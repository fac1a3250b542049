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
import threading
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
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


class ColumnReader:
    """Reads queries' results from `store` as columns. On SQLite a child process reads each query; the
    first `children` start when the reader is made, so that their start-up (importing Arrow and the
    driver: 0.15 s) overlaps what the caller does until then. Leaving the `with` block stops children that
    were not used."""

    def __init__(self, store: Store, children: int = 1):
        self.store = store
        url = store.engine.url
        self.sqlite = url.get_backend_name() == "sqlite"
        self._database = url.database if self.sqlite else None
        self._waiting = [child for child in (self._start_child() for _ in range(children)) if child is not None]
        self._lock = threading.Lock()

    def __enter__(self) -> ColumnReader:
        return self

    def __exit__(self, *_: object) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for child in waiting:
            child.kill()
            child.wait()

    def read(self, query: Select[Any], times: Collection[str] = ()) -> pd.DataFrame:
        """The rows of `query` as a DataFrame, column names from the query's labels. The columns named in
        `times` come back as UTC times (SQLite keeps them as text); the other columns' types are the
        driver's (on SQLite read in this process, Python objects): the caller sets the types it needs."""
        return self.read_parts([query], times)

    def read_parts(self, queries: list[Select[Any]], times: Collection[str] = ()) -> pd.DataFrame:
        """The rows of `queries` (the same columns), one query's after another's, as one DataFrame. On
        SQLite the parts are read at the same time, each by a child of its own."""
        url = self.store.engine.url
        names = [column.name for column in queries[0].selected_columns]
        sqls = [str(q.compile(dialect=self.store.engine.dialect, compile_kwargs={"literal_binds": True}))
                for q in queries]
        if self.sqlite:
            with ThreadPoolExecutor(len(sqls), thread_name_prefix="statops-columns") as pool:
                parts = list(pool.map(self._sqlite_child, sqls))
            if any(part is None for part in parts):
                frame = pd.concat([_sqlite_here(self.store, q, names) for q in queries], ignore_index=True)
                for name in times:
                    frame[name] = pd.to_datetime(frame[name], format="ISO8601", utc=True)
                return frame
            tables = [part for part in parts if part is not None]
        elif url.get_backend_name() == "postgresql":
            import adbc_driver_postgresql.dbapi

            uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
            with adbc_driver_postgresql.dbapi.connect(uri) as connection, connection.cursor() as cursor:
                tables = []
                for sql in sqls:
                    cursor.execute(sql)
                    tables.append(cursor.fetch_arrow_table())
        else:
            raise StatopsError(f"statops keeps its store in SQLite or PostgreSQL, not {url.get_backend_name()}")
        # a part with no rows may have other column types (the driver infers them from the rows)
        table = pa.concat_tables([t for t in tables if t.num_rows] or tables[:1]).rename_columns(names)
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
        with self._lock:
            child = self._waiting.pop() if self._waiting else None
        child = child or self._start_child()
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
