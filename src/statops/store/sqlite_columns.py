"""Run as a script (`python sqlite_columns.py DATABASE`, the query on stdin): the query's result read by
ADBC's SQLite driver into Arrow columns, written to stdout as an Arrow IPC stream.

A process of its own, because ADBC's driver carries its own copy of the SQLite library, and two copies in
one process neither share locks nor see each other's WAL (SQLite's authors warn that this can corrupt a
database); two processes are SQLite's ordinary case. Only the standard library, pyarrow and the driver are
imported, so the process starts in about 0.15 s. Exit status 2 and one line on stderr when the
driver is missing; 1 with the driver's message when the query fails."""

from __future__ import annotations

import sys


def main() -> int:
    try:  # the driver manager's own API: its DB-API module imports pandas (0.2 s more a start)
        import adbc_driver_manager
        import adbc_driver_sqlite
        import pyarrow as pa
        import pyarrow.ipc
    except ImportError as exc:
        print(f"missing package: {exc.name}", file=sys.stderr)
        return 2
    database, query = sys.argv[1], sys.stdin.read()
    try:
        with adbc_driver_sqlite.connect(database) as db, adbc_driver_manager.AdbcConnection(db) as connection, \
                adbc_driver_manager.AdbcStatement(connection) as statement:
            statement.set_sql_query(query)
            stream, _ = statement.execute_query()
            table = pa.RecordBatchReader.from_stream(stream).read_all()
    except Exception as exc:  # the parent reports it
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    with pyarrow.ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
        writer.write_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
