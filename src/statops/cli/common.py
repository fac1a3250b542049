"""What every command shares: the console, the --home option, progress bars, table rendering."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from statops.workspace import Workspace

console = Console()
errors = Console(stderr=True)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Workspace folder (default: $STATOPS_HOME, else ./statops-home).",
                 show_default=False),
]


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


def open_workspace(home: Path | None) -> Workspace:
    quiet_libraries()
    return Workspace.open(home)


@contextmanager
def stage_progress(description: str) -> Iterator[Any]:
    """A bar for work reported as (stage, fraction) by a library progress callback."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task(description, total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, completed=fraction, description=f"{description}: {stage}")

        yield update


@contextmanager
def rows_progress(description: str) -> Iterator[Any]:
    """A bar for work reported as (rows done, total rows or None)."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*["" if v is None else str(v) for v in row])
    return out


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def evaluation_table(title: str, evaluation: Any) -> Table:
    """The quality measures of an Evaluation as a two-column table."""
    rows = [[f"accuracy ({level})", pct(v)] for level, v in evaluation.level_accuracy.items()]
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
