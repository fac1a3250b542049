"""Reading and writing tabular files (CSV, Parquet, Excel) as text columns, with clear errors."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from statops.errors import InvalidInput, NotFound

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}


def table_format(path: Path) -> str:
    """'csv', 'parquet' or 'excel' from the file name (a trailing .gz is allowed for CSV)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz" and len(suffixes) > 1 and suffixes[-2] in CSV_SUFFIXES:
        return "csv"
    suffix = suffixes[-1] if suffixes else ""
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in EXCEL_SUFFIXES:
        return "excel"
    raise InvalidInput(f"{path.name}: unsupported file type {suffix or '(none)'}; use CSV, Parquet or Excel")


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{path.name} is empty")
    return path


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column as text; missing stays missing. Codes keep their leading zeros."""
    out = {}
    for name in frame.columns:
        column = frame[name]
        out[str(name)] = column.astype("string") if column.dtype != "string" else column
    return pd.DataFrame(out)


def _csv_kwargs(path: Path) -> dict[str, object]:
    return {
        "dtype": str,
        "keep_default_na": False,  # "NA" is an occupation, not a missing value
        "na_values": [],
        "encoding": "utf-8",
        "sep": "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ",",
    }


@contextmanager
def _reading(path: Path, fmt: str) -> Iterator[None]:
    """Turns the readers' failures into one-line InvalidInput errors naming the file."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 CSV"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(f"{path.name} has no columns") from exc
    except (pd.errors.ParserError, pa.ArrowException, ValueError, OSError) as exc:
        raise InvalidInput(f"{path.name} cannot be read as {fmt}: {exc}") from exc


def read_table(path: str | Path) -> pd.DataFrame:
    """The whole file as a frame of text columns."""
    path = _existing(path)
    fmt = table_format(path)
    with _reading(path, fmt):
        if fmt == "csv":
            frame = pd.read_csv(path, **_csv_kwargs(path))  # type: ignore[call-overload]
        elif fmt == "parquet":
            frame = pq.read_table(path).to_pandas()
        else:
            frame = pd.read_excel(path, dtype=str, keep_default_na=False, na_values=[])
    if frame.empty:
        raise InvalidInput(f"{path.name} has a header but no rows")
    return _as_text(frame)


def table_columns(path: str | Path) -> list[str]:
    """Column names, reading as little as possible."""
    path = _existing(path)
    fmt = table_format(path)
    with _reading(path, fmt):
        if fmt == "parquet":
            return [str(n) for n in pq.ParquetFile(path).schema_arrow.names]
        if fmt == "csv":
            return [str(c) for c in pd.read_csv(path, nrows=0, **_csv_kwargs(path)).columns]  # type: ignore[call-overload]
        return [str(c) for c in pd.read_excel(path, nrows=0).columns]


def iter_table_chunks(path: str | Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The file in frames of at most `chunk_rows` rows, never the whole file at once."""
    path = _existing(path)
    fmt = table_format(path)
    with _reading(path, fmt):
        if fmt == "csv":
            with pd.read_csv(path, chunksize=chunk_rows, **_csv_kwargs(path)) as reader:  # type: ignore[call-overload]
                for chunk in reader:
                    yield _as_text(chunk)
        elif fmt == "parquet":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                yield _as_text(batch.to_pandas())
        else:  # Excel cannot be streamed; such files are small by the format's own limits
            frame = read_table(path)
            for start in range(0, len(frame), chunk_rows):
                yield frame.iloc[start : start + chunk_rows]


def require_columns(available: Sequence[str], required: Sequence[str], source: str) -> None:
    """InvalidInput naming each missing column, with the closest existing name when there is one."""
    problems = []
    for name in required:
        if name in available:
            continue
        close = difflib.get_close_matches(name, list(available), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"'{name}'{hint}")
    if problems:
        raise InvalidInput(
            f"{source} has no column {', '.join(problems)}; its columns are: {', '.join(available)}"
        )


class TableWriter:
    """Writes frames to CSV or Parquet in a temporary file, moved into place only on `commit`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = table_format(self.path)
        if self.format == "excel":
            raise InvalidInput("output must be CSV or Parquet (Excel cannot be written in chunks)")
        if not self.path.parent.is_dir():
            raise NotFound(f"output folder not found: {self.path.parent}")
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self._stream: pa.CompressedOutputStream | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            if self.format == "csv":
                options = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
                if self.path.suffix.lower() == ".gz":
                    self._stream = pa.CompressedOutputStream(str(self._tmp), "gzip")
                self._writer = pa_csv.CSVWriter(self._stream or str(self._tmp), table.schema, write_options=options)
            else:
                self._writer = pq.ParquetWriter(self._tmp, table.schema)
        elif table.schema != self._schema:  # e.g. a column that was all-missing in the first chunk
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def commit(self) -> None:
        self._close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._close()
        self._tmp.unlink(missing_ok=True)
