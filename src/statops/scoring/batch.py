"""Batch scoring: a file in, the same file with the model's answers out, streamed in bounded chunks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from statops.errors import InvalidInput
from statops.registry.versions import ModelVersionRef
from statops.scoring.cache import ModelCache, route_key
from statops.scoring.predict import Columns, as_columns
from statops.scoring.prediction_log import delete_request, new_id, prediction_rows, write_rows
from statops.tables import UTF8, TableChunks, TableWriter, TextFormat, require_columns, table_columns
from statops.tasks import TaskModel, get_task
from statops.workspace import Workspace

ChunkProgress = Callable[[int, float | None], None]
"""(rows done, fraction of the input read or None when unknown)."""


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


def score_file(
    ws: Workspace,
    model_ref: str,
    input_path: str | Path,
    output_path: str | Path,
    text_column: str = "text",
    chunk_rows: int | None = None,
    progress: ChunkProgress | None = None,
    log: bool = False,
    text_format: TextFormat = UTF8,
) -> ScoreSummary:
    """Answer every record of `input_path` into `output_path` with a registered model (any task); all
    or nothing. The version is resolved and loaded through the model cache, as online; a retired
    version is refused.

    With `log`, every prediction also goes to the prediction log (as online ones do), under one
    request id for the job; a failed job removes its rows again.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    cache, route = ModelCache(ws, capacity=1, freeze_loaded=False), route_key(model_ref)
    cache.resolve(route)
    check_paths(input_path, output_path, text_column, text_format)  # a typo costs no model load
    served = cache.get(route)
    ref = served.ref
    job_id = new_id()

    def log_chunk(texts: Sequence[str], answers: Columns) -> None:
        write_rows(ws.store, prediction_rows(ref, texts, answers, source="batch", request_id=job_id,
                                             keep_text=ws.settings.log_text, requested_by=ws.actor))

    started = time.perf_counter()
    try:
        coded = code_file(served.model, input_path, output_path, text_column,
                          chunk_rows or ws.settings.score_chunk_rows, progress, text_format,
                          log_chunk if log else None)
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
    model: TaskModel,
    input_path: Path,
    output_path: Path,
    text_column: str,
    chunk_rows: int,
    progress: ChunkProgress | None = None,
    text_format: TextFormat = UTF8,
    on_chunk: Callable[[Sequence[str], Columns], None] | None = None,
) -> CodedFile:
    """The input's columns plus the model's output columns, written to `output_path` (CSV or
    Parquet) only if every chunk succeeds. The input is read once.

    Row for row: every input record gives one output row, in order (a blank line of a CSV file is a
    record with an empty text, which gets no answer).
    """
    check_paths(input_path, output_path, text_column, text_format)
    output_columns = get_task(model.task).output_columns
    writer = TableWriter(output_path)
    rows = auto = 0
    renamed: dict[str, str] = {}
    try:
        with TableChunks(input_path, chunk_rows, text_format) as chunks:
            for chunk in chunks:
                if rows == 0:
                    require_columns(list(chunk.columns), [text_column], input_path.name)
                    renamed = input_renames(list(chunk.columns), output_columns)
                if chunk.empty:
                    continue
                texts = chunk[text_column].fillna("")
                answers = model.predict_frame(texts)
                if on_chunk:
                    on_chunk(texts.astype(str).tolist(), as_columns(answers))
                answers.index = chunk.index
                out = chunk.rename(columns=renamed).join(answers)
                writer.write(out)
                rows += len(out)
                auto += int((answers["decision"] == "auto").sum())
                if progress:
                    progress(rows, chunks.fraction_done)
        if rows == 0:
            raise InvalidInput(f"{input_path.name} has a header but no rows")
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return CodedFile(rows, auto, renamed)


def check_paths(input_path: Path, output_path: Path, text_column: str, text_format: TextFormat = UTF8) -> None:
    """The input has the text column, and the output can be written and is not the input."""
    require_columns(table_columns(input_path, text_format), [text_column], input_path.name)
    if input_path.resolve() == output_path.resolve():
        raise InvalidInput("the output file must not be the input file")
    TableWriter.check(output_path)


def input_renames(columns: list[str], output_columns: Sequence[str]) -> dict[str, str]:
    """Input columns named like an output column (e.g. a job 'title') keep their data as NAME_input."""
    taken = set(columns) | set(output_columns)
    renames = {}
    for name in output_columns:
        if name in columns:
            new = f"{name}_input"
            while new in taken:
                new += "_"
            renames[name] = new
            taken.add(new)
    return renames
