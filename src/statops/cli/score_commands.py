"""statops score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from statops.cli.common import (
    EncodingOption,
    HomeOption,
    SeparatorOption,
    console,
    if_interrupted,
    open_workspace,
    progress_bars,
)


def score(
    model: Annotated[str, typer.Argument(help="MODEL (production alias, else latest), MODEL@ALIAS or MODEL/VERSION.")],
    input: Annotated[Path, typer.Argument(help="CSV, Parquet or Excel file to code.")],
    output: Annotated[Path, typer.Argument(help="CSV or Parquet file to write (input columns + codes).")],
    text_column: Annotated[str, typer.Option(help="Column with the text to code.")] = "text",
    chunk_rows: Annotated[int | None, typer.Option(help="Rows per chunk (memory bound); default from settings.",
                                                   min=1)] = None,
    log: Annotated[bool, typer.Option("--log", help="Also write every prediction to the prediction log, "
                                      "as the online API does (input text unless STATOPS_LOG_TEXT=false).")] = False,
    encoding: EncodingOption = "utf-8",
    separator: SeparatorOption = None,
    home: HomeOption = None,
) -> None:
    """Answer a file's records in chunks (code them, or match addresses): adds code, title, confidence,
    decision (auto/review) and alternatives.

    Every input row gives one output row, in order; an empty text gets no code and decision review."""
    from statops.scoring.batch import score_file
    from statops.tables import TextFormat
    from statops.tasks import get_task

    text_format = TextFormat(encoding, separator)
    if_interrupted(f"no {output.name} was written and no predictions were logged")
    ws = open_workspace(home, "predict")
    with progress_bars() as bars:
        summary = score_file(ws, model, input, output, text_column, chunk_rows, bars.rows(f"Scoring {input.name}"),
                             log=log, text_format=text_format)
    for old, new in summary.renamed.items():
        console.print(f"[yellow]note:[/] input column '{old}' is written as '{new}' (scoring adds '{old}')")
    rate = summary.rows / summary.seconds if summary.seconds else float("inf")
    console.print(f"Scored {summary.rows:,} rows with {summary.model.describe()} in {summary.seconds:.1f} s "
                  f"({rate:,.0f} rows/s)")
    decided = get_task(summary.model.task).decided_auto.capitalize()
    console.print(f"{decided}: {summary.auto_coded:,} ({summary.auto_coded_share:.1%}); "
                  f"{summary.rows - summary.auto_coded:,} for review. Written to {summary.output}")
    if log:
        console.print(f"Logged {summary.logged:,} predictions to the prediction log")


def register(app: typer.Typer) -> None:
    app.command("score", epilog="Example: statops score occupation survey.csv coded.csv --text-column answer")(score)
