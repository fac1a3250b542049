"""Reading a query's result as columns, for reads of a million rows.

On PostgreSQL through ADBC (binary COPY straight into Arrow: no Python object per value; the DB-API
cursor builds a tuple and an object for every value, three times slower than the query itself on
monitoring's windows). On SQLite through the DB-API cursor of Python's own sqlite3: ADBC's SQLite driver
carries a second copy of the SQLite library, and two copies in one process neither share locks nor see
each other's uncommitted-to-file WAL pages (it reads a stale database), which SQLite's authors warn can
corrupt it.

The query's values are rendered into its text by SQLAlchemy (quoted by the dialect, as the store keeps
them), since ADBC binds its own types."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select

from statops.errors import StatopsError
from statops.store.database import Store


def read_frame(store: Store, query: Select[Any]) -> pd.DataFrame:
    """The rows of `query` as a DataFrame (column names from the query's labels; on SQLite every column is
    of Python objects)."""
    url = store.engine.url
    names = [column.name for column in query.selected_columns]
    if url.get_backend_name() == "sqlite":
        with store.engine.connect() as connection:
            result = connection.execute(query)
            rows = result.cursor.fetchall() if result.cursor is not None else []
        # one object array, then a column view each: pandas infers nothing (a third of the time of
        # DataFrame(rows) on a million rows); the caller sets the types it needs
        values = np.array(rows, dtype=object).reshape(len(rows), len(names))
        return pd.DataFrame({name: pd.Series(values[:, i], dtype=object) for i, name in enumerate(names)})
    if url.get_backend_name() != "postgresql":
        raise StatopsError(f"statops keeps its store in SQLite or PostgreSQL, not {url.get_backend_name()}")
    import adbc_driver_postgresql.dbapi

    sql = str(query.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
    uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc_driver_postgresql.dbapi.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table().rename_columns(names).to_pandas()
