"""Reading and writing tabular files (CSV, Parquet, Excel) as text columns, with clear errors."""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import io
import os
import re
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from statops.errors import InvalidInput, NotFound
from statops.files import check_writable_folder

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


SEPARATOR_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


@dataclass(frozen=True)
class TextFormat:
    """How a CSV file's bytes are read: its encoding, and its separator (None: sniffed)."""

    encoding: str = "utf-8"
    separator: str | None = None

    @property
    def display_encoding(self) -> str:
        return "UTF-8" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding

    def __post_init__(self) -> None:
        try:
            codecs.lookup(self.encoding)
        except LookupError as exc:
            raise InvalidInput(f"unknown encoding '{self.encoding}' (try utf-8, cp1252 or latin-1)") from exc
        if self.separator is not None:
            separator = SEPARATOR_ALIASES.get(self.separator.lower(), self.separator)
            if len(separator) != 1:
                raise InvalidInput(f"the separator must be one character or one of {', '.join(SEPARATOR_ALIASES)}, "
                                   f"not {self.separator!r}")
            object.__setattr__(self, "separator", separator)


UTF8 = TextFormat()
SNIFFED_SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
SNIFF_BYTES = 64 * 1024


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


def _head(path: Path, fmt: TextFormat) -> str:
    """The start of a CSV file (decompressed, decoded, whole lines only), for sniffing its separator."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    text = head.decode(fmt.encoding, errors="replace")
    if len(head) == SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text


def _fields_per_row(text: str, separator: str) -> list[int]:
    try:
        return [len(row) for row in csv.reader(io.StringIO(text), delimiter=separator)]
    except csv.Error:
        return []


def sniff_separator(head: str) -> str:
    """The separator that splits the header line into the most fields. With a one-column header,
    the one under which no row splits either (texts may hold other separators unquoted); a comma
    when nothing decides."""
    header = head.splitlines()[0] if head else ""
    fields = {candidate: (_fields_per_row(header, candidate) or [1])[0] for candidate in SNIFFED_SEPARATORS}
    best = max(fields.values())
    if best > 1:
        return next(c for c in SNIFFED_SEPARATORS if fields[c] == best)
    for candidate in SNIFFED_SEPARATORS:
        rows = _fields_per_row(head, candidate)
        if rows and max(rows) <= 1:
            return candidate
    return ","


def csv_separator(path: Path, fmt: TextFormat) -> str:
    """The separator given, else tab for .tsv files, else sniffed from the start of the file."""
    if fmt.separator is not None:
        return fmt.separator
    if ".tsv" in [s.lower() for s in path.suffixes]:
        return "\t"
    return sniff_separator(_head(path, fmt))


def _csv_kwargs(path: Path, fmt: TextFormat) -> dict[str, object]:
    return {
        "dtype": str,
        "keep_default_na": False,  # "NA" is an occupation, not a missing value
        "na_values": [],
        "skip_blank_lines": False,  # a blank line is a record with empty fields: rows in = rows out
        "index_col": False,  # never take the first column as an index when rows are longer than the header
        "encoding": fmt.encoding,
        "sep": csv_separator(path, fmt),
    }


_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _parser_message(path: Path, exc: Exception, fmt: TextFormat) -> str:
    """A reader's complaint about field counts, said in terms of lines, separators and quotes."""
    found = _FIELD_COUNT.search(str(exc))
    if not found:
        return f"{path.name} cannot be read as CSV: {exc}"
    expected, line, saw = found.groups()
    return (f"{path.name}: line {line} has {saw} fields but the header has {expected} "
            f"({_separator_name(path, fmt)}). If the file uses another "
            "separator, give it with --separator; a text that contains the separator must be in double quotes")


def _separator_name(path: Path, fmt: TextFormat) -> str:
    try:
        separator = csv_separator(path, fmt)
    except OSError:
        separator = fmt.separator or ","
    return f"separator: {SEPARATOR_NAMES.get(separator, repr(separator))}"


@contextmanager
def _reading(path: Path, kind: str, fmt: TextFormat = UTF8) -> Iterator[None]:
    """Turns the readers' failures into one-line InvalidInput errors naming the file."""
    try:
        yield
    except pd.errors.ParserWarning as exc:
        raise InvalidInput(
            f"{path.name}: a row has more fields than the header ({_separator_name(path, fmt)}). If the file "
            "uses another separator, give it with --separator; a text that contains the separator must be in "
            "double quotes"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path.name} is not {fmt.display_encoding} text "
            f"(byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "give its encoding with --encoding (e.g. --encoding cp1252 or --encoding latin-1), "
            "or save it as UTF-8"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(f"{path.name} has no columns") from exc
    except pd.errors.ParserError as exc:
        raise InvalidInput(_parser_message(path, exc, fmt)) from exc
    except ImportError as exc:  # e.g. the old .xls format needs a reader that is not installed
        raise InvalidInput(f"{path.name} cannot be read as {kind} here ({exc}); save it as .xlsx or CSV") from exc
    except (pa.ArrowException, ValueError, OSError, EOFError, zlib.error) as exc:
        raise InvalidInput(f"{path.name} cannot be read as {kind}: {exc}") from exc


@contextmanager
def _strict_csv() -> Iterator[None]:
    """A first data row with more fields than the header would silently lose its extra fields: make
    pandas' warning an error, for the read in hand only (not across a generator's yield)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        yield


def read_table(path: str | Path, fmt: TextFormat = UTF8) -> pd.DataFrame:
    """The whole file as a frame of text columns (`fmt` applies to CSV files)."""
    path = _existing(path)
    kind = table_format(path)
    with _reading(path, kind, fmt):
        if kind == "csv":
            with _strict_csv():
                frame = pd.read_csv(path, **_csv_kwargs(path, fmt))  # type: ignore[call-overload]
        elif kind == "parquet":
            frame = pq.read_table(path).to_pandas()
        else:
            frame = pd.read_excel(path, dtype=str, keep_default_na=False, na_values=[])
    if frame.empty:
        raise InvalidInput(f"{path.name} has a header but no rows")
    return _as_text(frame)


def table_columns(path: str | Path, fmt: TextFormat = UTF8) -> list[str]:
    """Column names, reading as little as possible."""
    path = _existing(path)
    kind = table_format(path)
    with _reading(path, kind, fmt):
        if kind == "parquet":
            return [str(n) for n in pq.read_schema(path).names]
        if kind == "csv":
            return [str(c) for c in pd.read_csv(path, nrows=0, **_csv_kwargs(path, fmt)).columns]  # type: ignore[call-overload]
        return [str(c) for c in pd.read_excel(path, nrows=0).columns]


class TableChunks:
    """A file read once, in frames of at most `chunk_rows` rows, never whole: `columns` after the
    first frame, and `fraction_done` by bytes read (CSV) or rows read (Parquet) without counting
    rows first. Use it as a context manager, or iterate it to the end."""

    def __init__(self, path: str | Path, chunk_rows: int, fmt: TextFormat = UTF8):
        self.path = _existing(path)
        self.kind = table_format(self.path)
        self.chunk_rows = chunk_rows
        self.fmt = fmt
        self.columns: list[str] | None = None
        self.fraction_done: float | None = None
        self._size = self.path.stat().st_size
        self._handle: Any = None

    def __enter__(self) -> TableChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __iter__(self) -> Iterator[pd.DataFrame]:
        with _reading(self.path, self.kind, self.fmt):
            try:
                for frame, done in self._frames():
                    frame = _as_text(frame)
                    if self.columns is None:
                        self.columns = list(frame.columns)
                    self.fraction_done = done
                    yield frame
            finally:
                self.close()

    def _frames(self) -> Iterator[tuple[pd.DataFrame, float]]:
        self.close()  # iterating again starts afresh, without leaking the first handle
        if self.kind == "csv":
            kwargs = _csv_kwargs(self.path, self.fmt)
            self._handle = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            source = gzip.GzipFile(fileobj=self._handle) if self.path.suffix.lower() == ".gz" else self._handle
            with pd.read_csv(source, chunksize=self.chunk_rows, **kwargs) as reader:  # type: ignore[call-overload]
                while True:
                    with _strict_csv():
                        chunk = next(reader, None)
                    if chunk is None:
                        return
                    yield chunk, min(1.0, self._handle.tell() / self._size) if self._size else 1.0
        elif self.kind == "parquet":
            self._handle = pq.ParquetFile(self.path)
            total, done = self._handle.metadata.num_rows, 0
            for batch in self._handle.iter_batches(batch_size=self.chunk_rows):
                done += batch.num_rows
                yield batch.to_pandas(), done / total if total else 1.0
            if total == 0:
                yield self._handle.schema_arrow.empty_table().to_pandas(), 1.0
        else:  # Excel cannot be streamed; such files are small by the format's own limits
            frame = read_table(self.path)
            for start in range(0, len(frame), self.chunk_rows):
                yield frame.iloc[start : start + self.chunk_rows], min(1.0, (start + self.chunk_rows) / len(frame))


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
        hint = ""
        if len(available) == 1 and any(sep in available[0] for sep in SNIFFED_SEPARATORS):
            hint = "; the header was read as one column: if the file uses another separator, give it with --separator"
        raise InvalidInput(
            f"{source} has no column {', '.join(problems)}; its columns are: {', '.join(available)}{hint}"
        )


class TableWriter:
    """Writes frames to CSV or Parquet in a temporary file, moved into place only on `commit`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.format = self.check(self.path)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self._stream: pa.CompressedOutputStream | None = None

    @staticmethod
    def check(path: Path) -> str:
        """The output's format, once it is known that it can be written there."""
        kind = table_format(path)
        if kind == "excel":
            raise InvalidInput("output must be CSV or Parquet (Excel cannot be written in chunks)")
        if path.is_dir():
            raise InvalidInput(f"the output {path} is a folder")
        check_writable_folder(path.parent, str(path))
        return kind

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
