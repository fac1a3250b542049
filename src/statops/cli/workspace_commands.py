"""statops init, backup and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from statops.accounts import ensure_admin
from statops.cli.common import (
    HomeOption,
    JsonOption,
    console,
    if_interrupted,
    open_workspace,
    print_json,
    progress_bars,
    quiet_libraries,
)
from statops.workspace import Workspace


def init(home: HomeOption = None) -> None:
    """Create a workspace: our store, an MLflow tracking and registry store, an artifact folder.
    On an existing workspace, bring it up to date (it is safe to run again)."""
    quiet_libraries()
    if_interrupted("the workspace may be incomplete; run statops init again to finish it")
    ws = Workspace.init(home)
    if ws.existed:
        console.print("[green]Workspace already existed[/]; brought it up to date")
    else:
        console.print("[green]Workspace ready[/]")
    if ws.relocation is not None and ws.relocation.moved:
        console.print(f"It had moved; its MLflow store now points into this folder "
                      f"({ws.relocation.locations} locations updated). It was at:")
        console.print(f"  {ws.relocation.old_root}", soft_wrap=True, highlight=False)
    # Paths and URLs stay whole on one line (the terminal wraps them), so they can be copied.
    for label, value in (("folder", ws.home), ("store ", ws.store.safe_url), ("MLflow", ws.mlflow_uri)):
        console.print(f"  {label}: {value}", soft_wrap=True, highlight=False)
    created = ensure_admin(ws)
    if created is not None:
        user, secret = created
        console.print(f"Admin user [bold]{user.name}[/] created. Its API token, shown only this once "
                      "(store it; `statops tokens create` makes more):")
        console.print(f"  {secret}", soft_wrap=True, highlight=False)
    if not ws.existed:
        console.print("Next: statops classifications add NAME FILE, then statops data add ...")


ArchiveArgument = Annotated[Path, typer.Argument(help="The backup file to write: a gzipped tar archive (.tar.gz), "
                                                      "outside the workspace.", show_default=False)]


def backup(
    file: ArchiveArgument,
    home: HomeOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Back up a workspace, even while it serves: its databases (copied with SQLite's online backup,
    a consistent snapshot), dataset snapshots, models and MLflow artifacts, settings and any other
    files in the folder, into one .tar.gz file. Stores outside the folder (PostgreSQL, an MLflow
    server) are not included; the command says so."""
    from statops.workspace_backup import backup_workspace

    if_interrupted(f"no {file.name} was written; the workspace is unchanged")
    ws = open_workspace(home, "workspace.backup")
    with progress_bars() as bars:
        summary = backup_workspace(ws, file, force=force, progress=None if as_json else bars.stages("Backing up"))
    if as_json:
        print_json({"archive": str(summary.archive), "bytes": summary.bytes, "files": summary.files,
                    "databases": summary.databases, "prediction_log_rows": summary.prediction_log_rows,
                    "not_included": summary.not_included, "seconds": round(summary.seconds, 3)})
        return
    rows = "" if summary.prediction_log_rows is None else f", {summary.prediction_log_rows:,} prediction-log rows"
    console.print(f"[green]Backed up[/] {ws.home} to {summary.archive} "
                  f"({_megabytes(summary.bytes)}; {', '.join(summary.databases) or 'no databases'}{rows}; "
                  f"{summary.files:,} files) in {summary.seconds:.1f} s")
    for note in summary.not_included:
        console.print(f"[yellow]Not included:[/] {note}")
    console.print(f"Restore it with: statops restore {summary.archive} NEW_FOLDER")


def restore(
    file: Annotated[Path, typer.Argument(help="A backup made by statops backup (.tar.gz).", show_default=False)],
    directory: Annotated[Path, typer.Argument(help="The folder to restore into: new, or empty.",
                                              show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Restore a backup into a new folder, check its databases, and open it there (locations in the
    MLflow store are pointed into the new folder). Nothing is left behind if it fails."""
    from statops.workspace_backup import restore_workspace

    quiet_libraries()
    if_interrupted(f"nothing was restored into {directory}")
    with progress_bars() as bars:
        summary = restore_workspace(file, directory, progress=None if as_json else bars.stages("Restoring"))
    if as_json:
        print_json({"home": str(summary.home), "backup_created": summary.created,
                    "source_home": summary.source_home, "models": summary.models, "datasets": summary.datasets,
                    "prediction_log_rows": summary.prediction_log_rows, "not_included": summary.not_included})
        return
    console.print(f"[green]Restored[/] the backup of {summary.source_home} taken {summary.created} "
                  f"into {summary.home}")
    console.print(f"  models:         {', '.join(summary.models) or 'none'}")
    console.print(f"  datasets:       {summary.datasets:,}")
    console.print(f"  prediction log: {summary.prediction_log_rows:,} rows")
    for note in summary.not_included:
        console.print(f"[yellow]Not included in the backup:[/] {note}")
    console.print(f"Use it with --home {summary.home}")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def register(app: typer.Typer) -> None:
    app.command("init", epilog="Example: statops init --home ./statops-home")(init)
    app.command("backup", epilog="Example: statops backup /backups/statops-2024-06-30.tar.gz "
                                 "--home ./statops-home")(backup)
    app.command("restore", epilog="Example: statops restore /backups/statops-2024-06-30.tar.gz "
                                  "./statops-home-restored")(restore)
