from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from statops import Conflict, InvalidInput, NotFound, Workspace
from statops.classifications import add_classification
from statops.data import add_dataset, get_dataset, label_summary, list_datasets, load_dataset


@pytest.fixture
def ws(workspace: Workspace, soc) -> Workspace:  # noqa: ANN001
    add_classification(workspace, "soc2010", soc.structure, version="2010")
    return workspace


def snapshot_files(ws: Workspace) -> list[Path]:
    return sorted(ws.snapshot_root.glob("*"))


def test_add_stores_a_hashed_snapshot_with_provenance(ws: Workspace, soc) -> None:  # noqa: ANN001
    info = add_dataset(ws, "soc-train", soc.train, "text", "soc2010", "soc2010", cycle="2024Q1", gsbpm="5.2")
    assert info.created and info.ref == "soc-train@1" and info.rows == 5000
    assert len(info.sha256) == 64 and info.source_file == "train.csv"
    assert (info.cycle, info.gsbpm, info.classification_version) == ("2024Q1", "5.2", "2010")
    assert info.created_by and info.created_at is not None
    frame = load_dataset(ws, info)
    assert list(frame.columns) == ["text", "title", "qualifier", "soc2010", "soc2000"]
    assert frame["soc2010"].equals(pd.read_csv(soc.train, dtype=str)["soc2010"].astype("string"))
    summary = label_summary(ws, info, frame)
    assert summary["codes_per_level"]["major"] == 9
    assert summary["most_frequent"][0]["title"]


def test_identical_content_returns_the_existing_version_new_content_a_new_one(ws: Workspace, soc, tmp_path: Path) -> None:  # noqa: ANN001
    first = add_dataset(ws, "d", soc.dev, "text", "soc2010", "soc2010")
    again = add_dataset(ws, "d", soc.dev, "text", "soc2010", "soc2010")
    assert not again.created and again.ref == "d@1"
    as_parquet = tmp_path / "dev.parquet"
    pd.read_csv(soc.dev, dtype=str, keep_default_na=False).to_parquet(as_parquet)
    assert add_dataset(ws, "d", as_parquet, "text", "soc2010", "soc2010").ref == "d@1"  # same content, other format
    smaller = tmp_path / "smaller.csv"
    pd.read_csv(soc.dev, dtype=str).head(100).to_csv(smaller, index=False)
    second = add_dataset(ws, "d", smaller, "text", "soc2010", "soc2010")
    assert second.ref == "d@2" and second.sha256 != first.sha256
    assert get_dataset(ws, "d").ref == "d@2" and get_dataset(ws, "d@1").rows == 1000
    assert [d.ref for d in list_datasets(ws)] == ["d@1", "d@2"]


def test_excel_is_read_as_text(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "codes.xlsx"
    pd.DataFrame({"answer": ["chartered accountant", "fitter"], "code": ["2421", "5223"]}).to_excel(path, index=False)
    info = add_dataset(ws, "xl", path, "answer", "code", "soc2010")
    assert load_dataset(ws, info)["code"].tolist() == ["2421", "5223"]


def test_codes_stay_text_with_leading_zeros(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "sic.csv"
    path.write_text("text,code\nwheat growing,01110\nmixed farming,0113\nother,113\nNA,113\n")
    info = add_dataset(workspace, "sic", path, "text", "code")
    frame = load_dataset(workspace, info)
    assert frame["code"].tolist() == ["01110", "0113", "113", "113"]
    assert frame["text"].tolist()[-1] == "NA"


def test_unknown_codes_are_listed_or_accepted_on_request(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,code\naccountant,2421\nwizard,9999\nwitch,9999\nsorcerer,0000\n")
    with pytest.raises(InvalidInput, match=r"2 code\(s\).*9999 \(2 rows\), 0000 \(1 rows\).*--allow-unknown-codes"):
        add_dataset(ws, "bad", path, "text", "code", "soc2010")
    assert snapshot_files(ws) == []
    assert add_dataset(ws, "bad", path, "text", "code", "soc2010", allow_unknown_codes=True).ref == "bad@1"


@pytest.mark.parametrize(
    ("content", "kwargs", "error", "message"),
    [
        (b"text,soc2010\nx,1\n", {"text_column": "txt"}, InvalidInput, "no column 'txt' \\(did you mean 'text'\\?\\)"),
        (b"", {}, InvalidInput, "is empty"),
        (b"text,soc2010\n", {}, InvalidInput, "no rows"),
        ("text,soc2010\ncaf\u00e9,1\n".encode("latin-1"), {}, InvalidInput, "not UTF-8"),
        (b"text,soc2010\naccountant,2421\n ,2421\n", {}, InvalidInput, "empty 'text' \\(data rows 2\\)"),
        (b"text,soc2010\naccountant,\n", {}, InvalidInput, "empty 'soc2010'"),
        (b"text,soc2010\naccountant,2421\n", {"gsbpm": "9.9"}, InvalidInput, "GSBPM"),
        (b"text,soc2010\naccountant,2421\n", {"cycle": "spring"}, InvalidInput, "production cycle"),
        (b"text,soc2010\naccountant,2421\n", {"name": "bad name!"}, InvalidInput, "invalid dataset name"),
    ],
)
def test_bad_input_gets_a_clear_error_and_writes_nothing(ws: Workspace, tmp_path: Path, content: bytes,
                                                         kwargs: dict, error: type, message: str) -> None:
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    args = {"name": "d", "path": path, "text_column": "text", "label_column": "soc2010"} | kwargs
    with pytest.raises(error, match=message):
        add_dataset(ws, **args)
    assert list_datasets(ws) == [] and snapshot_files(ws) == []


def test_unknown_dataset_version_and_missing_file(ws: Workspace, soc, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(NotFound, match="unknown dataset nope"):
        get_dataset(ws, "nope")
    add_dataset(ws, "d", soc.dev, "text", "soc2010")
    with pytest.raises(NotFound, match="has no version 3; versions: 1"):
        get_dataset(ws, "d@3")
    with pytest.raises(NotFound, match="file not found"):
        add_dataset(ws, "e", tmp_path / "missing.csv", "text")
    with pytest.raises(NotFound, match="unknown classification"):
        add_dataset(ws, "e", soc.dev, "text", "soc2010", "isco08")


def test_an_altered_snapshot_is_detected(ws: Workspace, soc) -> None:  # noqa: ANN001
    info = add_dataset(ws, "d", soc.dev, "text", "soc2010")
    path = ws.home / info.snapshot_path
    frame = pd.read_parquet(path)
    frame.loc[0, "soc2010"] = "1111"
    frame.to_parquet(path)
    with pytest.raises(Conflict, match="altered"):
        load_dataset(ws, info)
