"""Row for row: whatever the file, every input record gives exactly one output row, in order."""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statops import InvalidInput
from statops.coding import CodingModel
from statops.coding.text import normalise_one
from statops.registry import load_model, resolve_model
from statops.scoring.batch import code_file
from statops.tables import TextFormat

FORMATS = ["csv", "csv.gz", "tsv", "semicolon.csv", "parquet", "xlsx"]

# Texts as survey files hold them: words, separators, quotes, line breaks inside a text, blanks.
_pieces = st.sampled_from(["nurse", "bus driver", "chartered accountant", "café owner", "NA", "0123",
                           ",", ";", "\t", "|", '"', "'", "\n", "\r\n", " ", "  ", "-", "Ünïcödé", "日本"])
texts = st.lists(st.one_of(st.just(""), st.just("   "), st.lists(_pieces, max_size=4).map("".join)),
                 min_size=1, max_size=25)


@pytest.fixture(scope="module")
def model(trained) -> CodingModel:  # noqa: ANN001
    return load_model(trained.ws, resolve_model(trained.ws, trained.model))


def _write(records: list[str], fmt: str, with_id: bool, folder: Path) -> tuple[Path, TextFormat]:
    """The records in a file of format `fmt`, written the way other tools write them. A one-column
    CSV file holds an empty text as a blank line."""
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(len(records))], "text": records})
    if not with_id:
        frame = frame[["text"]]
    if fmt == "parquet":
        path = folder / "in.parquet"
        frame.to_parquet(path)
        return path, TextFormat()
    if fmt == "xlsx":
        path = folder / "in.xlsx"
        frame.to_excel(path, index=False)
        return path, TextFormat()
    separator = {"tsv": "\t", "semicolon.csv": ";"}.get(fmt, ",")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\n")
    writer.writerow(frame.columns)
    for row in frame.itertuples(index=False):
        if not with_id and row.text == "":
            buffer.write("\n")  # a blank line
        else:
            writer.writerow(row)
    data = buffer.getvalue().encode("utf-8")
    name = {"csv.gz": "in.csv.gz", "tsv": "in.tsv", "semicolon.csv": "in.csv"}.get(fmt, "in.csv")
    path = folder / name
    path.write_bytes(gzip.compress(data) if fmt == "csv.gz" else data)
    return path, TextFormat()


@pytest.mark.parametrize("trained", ["sqlite"], indirect=True)
@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=texts, with_id=st.booleans(), chunk_rows=st.integers(min_value=1, max_value=7),
       out_format=st.sampled_from(["csv", "parquet"]))
def test_every_record_gives_one_row_in_order(model: CodingModel, fmt: str, records: list[str], with_id: bool,
                                             chunk_rows: int, out_format: str) -> None:
    if fmt == "xlsx":  # spreadsheets keep a lone carriage return as a line feed
        records = [r.replace("\r", "") for r in records]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source, text_format = _write(records, fmt, with_id, folder)
        output = folder / f"out.{out_format}"
        if fmt == "xlsx" and not with_id:  # an empty cell is not stored: trailing empty rows are not in the file
            while records and records[-1] == "":
                records.pop()
        if not records:
            with pytest.raises(InvalidInput, match="has a header but no rows"):
                code_file(model, source, output, "text", chunk_rows, text_format=text_format)
            assert not output.exists()
            return
        coded = code_file(model, source, output, "text", chunk_rows, text_format=text_format)
        if out_format == "csv":
            out = pd.read_csv(output, dtype=str, keep_default_na=False, na_values=[])
        else:
            out = pd.read_parquet(output)
    assert coded.rows == len(records) == len(out)
    if with_id:
        assert out["id"].tolist() == [f"r{i}" for i in range(len(records))]
    assert out["text"].fillna("").tolist() == records
    blank = pd.Series([normalise_one(t) == "" for t in records])  # nothing to code from
    assert (out.loc[blank, "code"].fillna("") == "").all()
    assert (out.loc[blank, "decision"] == "review").all()
    assert (out.loc[blank, "confidence"].astype(float) == 0).all()
    assert (out.loc[~blank, "code"].str.len() > 0).all()
