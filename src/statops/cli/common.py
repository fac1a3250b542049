"""What every command shares: the console, the --home option, progress bars, table rendering."""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from statops.accounts import Actor, current_actor, require
from statops.errors import InvalidInput
from statops.workspace import Workspace

console = Console()
errors = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Workspace folder (default: $STATOPS_HOME, else ./statops-home).",
                 show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of tables.")]
EncodingOption = Annotated[str, typer.Option("--encoding", help="Character encoding of a CSV input, "
                                             "e.g. cp1252 or latin-1.")]
SeparatorOption = Annotated[str | None, typer.Option(
    "--separator", show_default=False,
    help="Separator of a CSV input: one character, or tab, comma, semicolon, pipe (default: sniffed from the header).")]
WideOption = Annotated[bool, typer.Option("--wide", help="Show every column, even past 80 characters.")]


class Interrupted(BaseException):
    """Ctrl-C. Raised by our SIGINT handler instead of KeyboardInterrupt, which typer would turn
    into a silent exit; `main` prints what the interrupted command did and did not write."""


_interrupt_note = ["stopped before finishing; nothing half-written was kept"]


def if_interrupted(note: str) -> None:
    """What an interrupt of the running command leaves behind, said in one line."""
    _interrupt_note[0] = note


def interrupt_note() -> str:
    return _interrupt_note[0]


def quiet_libraries() -> None:
    """MLflow and alembic talk a lot at INFO; users need our output, not theirs."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when MLflow configures its loggers
    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="mlflow")
    # Some MLflow functions re-enable their UserWarnings inside catch_warnings ("once"), which
    # overrides any filter; their advice (type hints on predict) does not apply to statops models.
    if not getattr(warnings.showwarning, "statops_quiet", False):
        show = warnings.showwarning

        def showwarning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, UserWarning) and "mlflow" in str(args[0] if args else ""):
                return
            show(message, category, *args, **kwargs)

        showwarning.statops_quiet = True  # type: ignore[attr-defined]
        warnings.showwarning = showwarning


def open_workspace(home: Path | None, action: str | None = None) -> Workspace:
    """The workspace, with who acts on it established (STATOPS_TOKEN's user, else its local admin) and,
    given an `action`, allowed to take it: a bad token or a role that may not act stops every command
    here, before anything is done."""
    ws, actor = acting(home)
    if action is not None:
        try:
            require(ws, actor, action)
        except BaseException:
            ws.close()
            raise
    return ws


def acting(home: Path | None) -> tuple[Workspace, Actor]:
    """The workspace and who acts on it."""
    quiet_libraries()
    ws = Workspace.open(home)
    try:
        return ws, current_actor(ws)
    except BaseException:
        ws.close()
        raise


class Bars:
    """Progress bars that appear when their work starts, all in one live display.

    The display itself starts with the first bar, so a command that fails before any work
    prints nothing but its error (a stopped display writes a blank line on a non-terminal)."""

    def __init__(self) -> None:
        self._progress: Progress | None = None

    def _display(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                                      TimeElapsedColumn(), TimeRemainingColumn(), console=console)
            self._progress.start()
        return self._progress

    def _updater(self, description: str) -> Any:
        """update(completed, total, description): the bar is added on the first update, so work
        that fails before it starts leaves no empty bar behind."""
        task = None

        def update(completed: float, total: float | None, label: str = description) -> None:
            nonlocal task
            progress = self._display()
            if task is None:
                task = progress.add_task(label, total=total)
            progress.update(task, completed=completed, total=total, description=label)

        return update

    def stages(self, description: str) -> Any:
        """A callback for work reported as (stage, fraction done)."""
        update = self._updater(description)
        return lambda stage, fraction: update(fraction, 1.0, f"{description}: {stage}")

    def rows(self, description: str) -> Any:
        """A callback for work reported as (rows done, fraction of the input read or None)."""
        update = self._updater(description)
        return lambda rows, fraction: update(fraction or 0.0, 1.0 if fraction is not None else None,
                                             f"{description}: {rows:,} rows")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextmanager
def progress_bars() -> Iterator[Bars]:
    bars = Bars()
    try:
        yield bars
    finally:
        bars.close()


def parse_moment(text: str, option: str) -> datetime:
    """An ISO date or time given on the command line, as UTC (a time without a zone is UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"invalid {option} '{text}': use an ISO date or time, e.g. 2025-06-30 or "
                           "2025-06-30T12:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def print_json(data: Any) -> None:
    """Machine-readable output on stdout: JSON, no colour, no wrapping (dates and paths as text)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A table whose cells wrap (long words fold) rather than being cut off at the console's width;
    the first column (what each row is) stays whole. Cells are shown as they are (a name such as
    `shift[major]` is not markup); a styled cell is a rich Text."""
    out = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        out.add_column(column, overflow="fold", no_wrap=index == 0)
    for row in rows:
        out.add_row(*[v if isinstance(v, Text) else Text("" if v is None else str(v)) for v in row])
    return out


def print_wide(renderable: Any) -> None:
    """A table at its natural width, past the console's (the --wide view; the terminal wraps it)."""
    from rich.measure import Measurement

    width = Measurement.get(console, console.options.update(width=10_000), renderable).maximum
    Console(width=max(width, console.width)).print(renderable)


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


SHARES = ("accuracy", "share", "precision", "recall")
"""A summary figure whose name has one of these is a share, shown as a percentage."""


def summary_table(title: str, summary: dict[str, Any]) -> Table:
    """A task's evaluation summary (its headline figures) as a two-column table; nested values are left out."""
    def shown(name: str, value: Any) -> str:
        if isinstance(value, float) and any(word in name for word in SHARES):
            return pct(value)
        if isinstance(value, float):
            return f"{value:.4f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    rows = [[name.replace("_", " "), shown(name, value)] for name, value in summary.items()
            if not isinstance(value, dict | list)]
    return table(title, ["measure", "value"], rows)


def evaluation_table(title: str, evaluation: Any, levels: bool = True) -> Table:
    """The quality measures of a coding Evaluation as a two-column table (with the accuracy at each
    level unless `levels` is False)."""
    rows = [[f"accuracy ({level})", pct(v)] for level, v in evaluation.level_accuracy.items()] if levels else []
    rows += [
        ["top-5 accuracy", pct(evaluation.top5_accuracy)],
        ["macro-F1", f"{evaluation.macro_f1:.3f}"],
        ["expected calibration error", f"{evaluation.ece:.3f}"],
        [f"auto-coded at target {evaluation.target_accuracy:.0%}", pct(evaluation.auto_coded_share)],
        ["accuracy of auto-coded records", pct(evaluation.auto_coded_accuracy)],
        ["confidence threshold", f"{evaluation.threshold:.4f}"],
        ["records", f"{evaluation.records:,}"],
    ]
    return table(title, ["measure", "value"], rows)
