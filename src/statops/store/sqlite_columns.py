"""Run as a script (`python sqlite_columns.py DATABASE`, the query on stdin): the query's result read by
ADBC's SQLite driver into Arrow columns, written to stdout as an Arrow IPC stream.

A process of its own, because ADBC's driver carries its own copy of the SQLite library, and two copies in
one process neither share locks nor see each other's WAL (SQLite's authors warn that this can corrupt a
database); two processes are SQLite's ordinary case. Only the standard library, pyarrow and the driver are
imported, so the process starts in a fraction of a second. Exit status 2 and one line on stderr when the
driver is missing; 1 with the driver's message when the query fails."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        import adbc_driver_sqlite.dbapi
        import pyarrow as pa
    except ImportError as exc:
        print(f"missing package: {exc.name}", file=sys.stderr)
        return 2
    database, query = sys.argv[1], sys.stdin.read()
    try:
        with adbc_driver_sqlite.dbapi.connect(database) as connection, connection.cursor() as cursor:
            cursor.execute(query)
            table = cursor.fetch_arrow_table()
    except Exception as exc:  # the parent reports it
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
        writer.write_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
