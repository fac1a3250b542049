"""The `statops` command."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer

from statops import __version__
from statops.cli import (
    address_commands,
    audit_commands,
    classification_commands,
    data_commands,
    demo_commands,
    model_commands,
    monitor_commands,
    retrain_commands,
    review_commands,
    score_commands,
    serve_commands,
    user_commands,
    workspace_commands,
)
from statops.cli.common import Interrupted, errors, interrupt_note, quiet_libraries
from statops.errors import StatopsError

USER_ERROR = 2

app = typer.Typer(
    name="statops",
    help="MLOps for official statistics: catalogue coded data, train and evaluate auto-coders and address "
    "matchers, register them in MLflow, and code files in batch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    epilog="Start with: statops demo",
)


def _version(value: bool) -> None:
    if value:
        print(f"statops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """statops command line."""


workspace_commands.register(app)
app.add_typer(classification_commands.app, name="classifications")
app.add_typer(data_commands.app, name="data")
app.add_typer(address_commands.app, name="addresses")
model_commands.register(app)
score_commands.register(app)
serve_commands.register(app)
demo_commands.register(app)
user_commands.register(app)
audit_commands.register(app)
monitor_commands.register(app)
review_commands.register(app)
retrain_commands.register(app)


INTERRUPTED = 130  # the shell's convention for SIGINT


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


def main() -> None:
    """Entry point: user errors print one line and exit 2, without a traceback; Ctrl-C says what
    the command did and did not write, and exits 130."""
    quiet_libraries()
    signal.signal(signal.SIGINT, _interrupt)
    try:
        app()
    except StatopsError as exc:
        errors.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(USER_ERROR)
    except (Interrupted, KeyboardInterrupt):
        errors.print(f"interrupted: {interrupt_note()}", highlight=False, soft_wrap=True)
        sys.exit(INTERRUPTED)
