"""Batch scoring: a file in, the same file with codes out, streamed in bounded chunks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from statops.coding.model import OUTPUT_COLUMNS, CodingModel
from statops.errors import InvalidInput
from statops.registry import ModelVersionRef, load_coding_model, resolve_model
from statops.serving.prediction_log import delete_request, new_id, prediction_rows, write_rows
from statops.tables import (
    UTF8,
    TableWriter,
    TextFormat,
    iter_table_chunks,
    require_columns,
    table_columns,
    table_format,
)
from statops.workspace import Workspace

RowsProgress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ScoreSummary:
    model: ModelVersionRef
    rows: int
    auto_coded: int
    seconds: float
    output: Path
    renamed: dict[str, str]
    logged: int = 0  # rows written to the prediction log (with `log=True`)

    @property
    def auto_coded_share(self) -> float:
        return self.auto_coded / self.rows if self.rows else 0.0


def count_rows(path: Path) -> int | None:
    """Rows in the file, cheaply (Parquet metadata, or counting lines of a CSV); None if unknown."""
    fmt = table_format(path)
    if fmt == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "csv" and not path.name.endswith(".gz"):
        with open(path, "rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
        return max(0, lines - 1)
    return None


def score_file(
    ws: Workspace,
    model_ref: str,
    input_path: str | Path,
    output_path: str | Path,
    text_column: str = "text",
    chunk_rows: int | None = None,
    progress: RowsProgress | None = None,
    log: bool = False,
    text_format: TextFormat = UTF8,
) -> ScoreSummary:
    """Code every record of `input_path` into `output_path` with a registered model; all or nothing.

    With `log`, every prediction also goes to the prediction log (as online ones do), under one
    request id for the job; a failed job removes its rows again.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    ref = resolve_model(ws, model_ref)
    require_columns(table_columns(input_path, text_format), [text_column], input_path.name)
    model = load_coding_model(ws, ref)
    job_id = new_id()

    def log_chunk(texts: pd.Series, coded: pd.DataFrame) -> None:
        write_rows(ws.store, prediction_rows(ref, texts.astype(str).tolist(), coded, source="batch",
                                             request_id=job_id, keep_text=ws.settings.log_text))

    started = time.perf_counter()
    try:
        coded = code_file(model, input_path, output_path, text_column, chunk_rows or ws.settings.score_chunk_rows,
                          progress, text_format, log_chunk if log else None)
    except BaseException:
        if log:
            delete_request(ws.store, job_id)
        raise
    return ScoreSummary(ref, coded.rows, coded.auto_coded, time.perf_counter() - started, output_path,
                        coded.renamed, coded.rows if log else 0)


@dataclass(frozen=True)
class CodedFile:
    rows: int
    auto_coded: int
    renamed: dict[str, str]


def code_file(
    model: CodingModel,
    input_path: Path,
    output_path: Path,
    text_column: str,
    chunk_rows: int,
    progress: RowsProgress | None = None,
    text_format: TextFormat = UTF8,
    on_chunk: Callable[[pd.Series, pd.DataFrame], None] | None = None,
) -> CodedFile:
    """The input's columns plus the model's output columns, written to `output_path` (CSV or
    Parquet) only if every chunk succeeds.

    Row for row: every input record gives one output row, in order (a blank line of a CSV file is a
    record with an empty text, which gets no code).
    """
    columns = table_columns(input_path, text_format)
    require_columns(columns, [text_column], input_path.name)
    renamed = input_renames(columns)
    if input_path.resolve() == output_path.resolve():
        raise InvalidInput("the output file must not be the input file")
    total = count_rows(input_path)
    writer = TableWriter(output_path)
    rows = auto = 0
    try:
        for chunk in iter_table_chunks(input_path, chunk_rows, text_format):
            texts = chunk[text_column].fillna("")
            coded = model.predict_frame(texts)
            if on_chunk:
                on_chunk(texts, coded)
            coded.index = chunk.index
            out = chunk.rename(columns=renamed).join(coded)
            writer.write(out)
            rows += len(out)
            auto += int((coded["decision"] == "auto").sum())
            if progress:
                progress(rows, total)
        if rows == 0:
            raise InvalidInput(f"{input_path.name} has a header but no rows")
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return CodedFile(rows, auto, renamed)


def input_renames(columns: list[str]) -> dict[str, str]:
    """Input columns named like a prediction column (e.g. a job 'title') keep their data as NAME_input."""
    taken = set(columns) | set(OUTPUT_COLUMNS)
    renames = {}
    for name in OUTPUT_COLUMNS:
        if name in columns:
            new = f"{name}_input"
            while new in taken:
                new += "_"
            renames[name] = new
            taken.add(new)
    return renames
