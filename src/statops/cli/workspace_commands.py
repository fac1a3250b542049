"""statops init."""

from __future__ import annotations

import typer

from statops.cli.common import HomeOption, console, quiet_libraries
from statops.workspace import Workspace


def init(home: HomeOption = None) -> None:
    """Create a workspace: our store, an MLflow tracking and registry store, an artifact folder."""
    quiet_libraries()
    ws = Workspace.init(home)
    console.print(f"[green]Workspace ready[/] at {ws.home}")
    console.print(f"  store:  {ws.store.safe_url}")
    console.print(f"  MLflow: {ws.mlflow_uri}")
    console.print("Next: statops classifications add NAME FILE, then statops data add ...")


def register(app: typer.Typer) -> None:
    app.command("init", epilog="Example: statops init --home ./statops-home")(init)
