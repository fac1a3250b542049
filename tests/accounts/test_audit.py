"""The audit trail: a hash chain that `verify` checks, append-only, unforked by concurrent writers."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from statops.store import audit
from tests.cli_runner import run_cli as run


def _append(ws, n: int, prefix: str = "m") -> None:  # noqa: ANN001
    for i in range(n):
        with ws.store.session() as session:
            ws.store.audit(session, "tester", "model.test", f"{prefix}/{i}", before={"state": "a"},
                           after={"state": "b"}, reason=f"reason {i}", note=i)


def _drop_guard(ws) -> None:  # noqa: ANN001
    """What someone with direct database access could do first."""
    with ws.store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))


def _verify(ws) -> audit.ChainCheck:  # noqa: ANN001
    with ws.store.session() as session:
        return audit.verify(session)


def test_an_edited_row_is_found_with_its_position(workspace) -> None:  # noqa: ANN001
    _append(workspace, 5)
    check = _verify(workspace)
    assert check.ok and check.rows == 5
    with workspace.store.session() as session:
        rows = audit.read(session, model="m")
    assert [r.subject for r in rows] == [f"m/{i}" for i in range(5)] and rows[2].after == {"state": "b"}
    with workspace.store.engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("UPDATE audit_events SET actor = 'mallory'"))
    _drop_guard(workspace)
    with workspace.store.engine.begin() as conn:
        third = conn.execute(text("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 2")).scalar_one()
        conn.execute(text("UPDATE audit_events SET reason = 'nothing to see' WHERE id = :id"), {"id": third})
    check = _verify(workspace)
    assert (check.ok, check.broken_at, check.broken_id) == (False, 3, third) and "edited" in (check.problem or "")


def test_a_removed_row_is_found(workspace) -> None:  # noqa: ANN001
    _append(workspace, 4)
    _drop_guard(workspace)
    with workspace.store.engine.begin() as conn:
        second = conn.execute(text("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 1")).scalar_one()
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": second})
    check = _verify(workspace)
    assert check.broken_at == 2 and "removed" in (check.problem or "")


def test_concurrent_writers_do_not_fork_the_chain(workspace) -> None:  # noqa: ANN001
    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(_append, workspace, 10, f"w{k}") for k in range(4)]:
            future.result()
    check = _verify(workspace)
    assert check.ok and check.rows == 40


def test_the_migration_hashes_existing_rows_in_order(workspace) -> None:  # noqa: ANN001
    store = workspace.store
    with store.engine.begin() as conn:
        config = store._alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
        for i in range(3):
            conn.execute(text("INSERT INTO audit_events (at, actor, action, subject, details) "
                              "VALUES (:at, 'old', 'dataset.add', :s, :d)"),
                         {"at": datetime(2024, 1, 1, 12, i, tzinfo=UTC), "s": f"d@{i}", "d": json.dumps({"i": i})})
    store.upgrade()
    _append(workspace, 1)
    check = _verify(workspace)
    assert check.ok and check.rows == 4


def test_audit_cli_lists_and_verifies(workspace, capsys, monkeypatch) -> None:  # noqa: ANN001
    _append(workspace, 2, "occ")
    _append(workspace, 1, "other")
    h = ["--home", str(workspace.home)]
    if workspace.settings.database_url:
        monkeypatch.setenv("STATOPS_DATABASE_URL", workspace.settings.database_url)
    code, out, _ = run(capsys, monkeypatch, "audit", "--model", "occ", "--json", *h)
    assert code == 0 and [r["subject"] for r in json.loads(out)] == ["occ/0", "occ/1"]
    code, out, _ = run(capsys, monkeypatch, "audit", "--since", "2999-01-01", "--json", *h)
    assert code == 0 and json.loads(out) == []
    code, out, _ = run(capsys, monkeypatch, "audit", "verify", *h)
    assert code == 0 and "intact" in out and "3 rows" in out
    _drop_guard(workspace)
    with workspace.store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE subject = 'occ/1'"))
    code, _, err = run(capsys, monkeypatch, "audit", "verify", *h)
    assert code == 2 and "broken at row 2" in err and err.count("\n") == 1
    code, _, err = run(capsys, monkeypatch, "audit", "--since", "yesterday", *h)
    assert code == 2 and "invalid --since" in err
