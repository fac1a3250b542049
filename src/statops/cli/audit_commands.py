"""statops audit [--model M] [--since T] [--json] and statops audit verify."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from statops.accounts import require
from statops.cli.common import HomeOption, JsonOption, acting, console, parse_moment, print_json, table
from statops.errors import StatopsError
from statops.store import audit

app = typer.Typer(help="The audit trail: every state change, append-only, in a hash chain.",
                  invoke_without_command=True)


def _since(text: str | None) -> datetime | None:
    return None if text is None else parse_moment(text, "--since")


def _change(record: audit.AuditRecord) -> str:
    parts = [json.dumps(record.before, default=str) + " -> " + json.dumps(record.after, default=str)
             if record.before is not None or record.after is not None else ""]
    parts += [f"{k}={v}" for k, v in record.details.items() if v not in (None, "")]
    return "; ".join(p for p in parts if p)


@app.callback()
def show(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="Only rows about this model and its versions.",
                                              show_default=False)] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only rows from this moment (ISO date or time, UTC).",
                                              show_default=False)] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the audit trail, oldest first: when, who, what, which object, the change and why."""
    if ctx.invoked_subcommand is not None:
        return
    ws, actor = acting(home)
    require(ws, actor, "audit.read")
    with ws.store.session() as session:
        records = audit.read(session, model, _since(since))
    if as_json:
        print_json([r.as_dict() for r in records])
        return
    console.print(table("Audit trail", ["when (UTC)", "who", "action", "object", "change", "reason"],
                        [[f"{r.at:%Y-%m-%d %H:%M:%S}", r.actor, r.action, r.subject, _change(r), r.reason]
                         for r in records]))


@app.command("verify", epilog="Example: statops audit verify --home ./statops-home")
def verify(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Recompute the hash chain from the first row and report the first row that does not fit
    (edited, removed, inserted or reordered). Exits 2 when the chain is broken."""
    ws, actor = acting(home)
    require(ws, actor, "audit.read")
    with ws.store.session() as session:
        check = audit.verify(session)
    if as_json:
        print_json({"ok": check.ok, "rows": check.rows, "broken_at": check.broken_at,
                    "broken_id": check.broken_id, "problem": check.problem})
    if not check.ok:
        raise StatopsError(f"the audit chain is broken at row {check.broken_at} (id {check.broken_id}): "
                           f"{check.problem}")
    if not as_json:
        console.print(f"[green]The audit chain is intact[/]: {check.rows:,} rows verified", highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="audit", epilog="Example: statops audit --model soc2010-coder --since 2025-01-01")
