"""A reference address base in the catalogue, and records labelled with its ids, as a new user adds them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from statops import InvalidInput, Workspace
from statops.addresses.reference_table import reference_table
from statops.data import add_dataset, get_dataset, label_summary, list_datasets, load_dataset
from statops.data.answers import dataset_answers, named_answers
from statops.data.catalogue import add_reference_base
from statops.demo import bundled_file
from tests.cli_runner import run_cli

GAZETTEER = pd.DataFrame({
    "uprn": ["100", "101", "102", "103"],
    "subname": ["FLAT 1", "FLAT 2", "", ""],
    "name": ["ROSE COURT", "ROSE COURT", "", "IVY COTTAGE"],
    "number": ["4", "4", "12A", ""],
    "streetname": ["HIGH STREET", "HIGH STREET", "MILL LANE", "MILL LANE"],
    "townname": ["LEEDS", "LEEDS", "LEEDS", "OTLEY"],
    "postcode": ["LS1 1AA", "LS1 1AA", "LS2 2BB", "LS21 3CC"],
})


def _reference(ws: Workspace, tmp_path: Path, frame: pd.DataFrame = GAZETTEER, name: str = "base") -> str:
    path = tmp_path / "gazetteer.csv"
    frame.to_csv(path, index=False)
    return add_reference_base(ws, name, reference_table(pd.read_csv(path, dtype=str, keep_default_na=False), "uprn"),
                              path, "address", "id").ref


def test_a_gazetteer_becomes_a_versioned_reference_base_with_its_fields_named(workspace: Workspace,
                                                                              tmp_path: Path) -> None:
    ref = _reference(workspace, tmp_path)
    info = get_dataset(workspace, ref)
    assert (info.kind, info.rows, info.label_column, info.text_column) == ("reference", 4, "id", "address")
    frame = load_dataset(workspace, info)
    assert frame.loc[0, "sub_building"] == "FLAT 1" and frame.loc[2, "building_number"] == "12A"
    assert frame.loc[0, "address"] == "FLAT 1, ROSE COURT, 4 HIGH STREET, LEEDS, LS1 1AA"
    assert frame.loc[3, "address"] == "IVY COTTAGE, MILL LANE, OTLEY, LS21 3CC"
    assert _reference(workspace, tmp_path) == ref  # the same content is the same version
    assert _reference(workspace, tmp_path, GAZETTEER.iloc[:3]) == "base@2"


BAD = [
    (GAZETTEER.assign(uprn=["100", "100", "102", "103"]), "duplicate ids: '100'"),
    (GAZETTEER.drop(columns=["uprn"]), "no id column 'uprn'"),
    (GAZETTEER.assign(uprn=["100", "", "102", "103"]), "empty id"),
    (GAZETTEER.assign(subname="", name="", number="", streetname="", townname="", postcode="").head(2),
     "address fields are all empty"),
]


def test_a_bad_gazetteer_is_refused_and_nothing_is_stored(workspace: Workspace, tmp_path: Path) -> None:
    for frame, message in BAD:
        with pytest.raises(InvalidInput, match=message):
            _reference(workspace, tmp_path, frame)
    assert list_datasets(workspace) == []
    assert not list(workspace.snapshot_root.glob("*.parquet"))


def test_address_columns_are_named_field_by_field(tmp_path: Path) -> None:
    frame = GAZETTEER.rename(columns={"streetname": "thoroughfare_text"})
    with pytest.raises(InvalidInput, match="'roadname' is not an address field"):
        reference_table(frame, "uprn", "roadname=thoroughfare_text")
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        reference_table(frame, "uprn", "street=nope")
    shaped = reference_table(frame, "uprn", "street=thoroughfare_text,town=townname,number,postcode")
    assert shaped.loc[2, "address"] == "12A MILL LANE, LEEDS, LS2 2BB"  # the flats' fields were not named


def test_records_labelled_with_its_ids_are_checked_against_it(workspace: Workspace, tmp_path: Path) -> None:
    ref = _reference(workspace, tmp_path)
    queries = tmp_path / "queries.csv"
    pd.DataFrame({"text": ["flat 1 rose ct 4 high st leeds", "12a mill ln", "9 nowhere road"],
                  "uprn": ["100", "102", ""]}).to_csv(queries, index=False)
    info = add_dataset(workspace, "q", queries, "text", "uprn", reference=ref)
    assert info.reference == ref and info.notes == (f"1 row(s) have an empty 'uprn': their answer is not in {ref}",)
    hierarchy, name = dataset_answers(workspace, info, load_dataset(workspace, info))
    assert name == f"reference {ref}" and hierarchy.title("102") == "12A MILL LANE, LEEDS, LS2 2BB"
    assert "999" not in hierarchy and named_answers(workspace, name, []).codes == hierarchy.codes
    assert label_summary(workspace, info, load_dataset(workspace, info))["most_frequent"][0]["title"]
    wrong = tmp_path / "wrong.csv"
    pd.DataFrame({"text": ["a", "b"], "uprn": ["100", "999"]}).to_csv(wrong, index=False)
    with pytest.raises(InvalidInput, match="1 row.* ids that reference base base@1 does not have: 999"):
        add_dataset(workspace, "w", wrong, "text", "uprn", reference=ref)
    with pytest.raises(InvalidInput, match="is not a reference base"):
        add_dataset(workspace, "w", wrong, "text", "uprn", reference="q")


def test_the_cli_adds_the_bundled_reference_and_its_queries(capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert run_cli(capsys, monkeypatch, "init", "--home", home)[0] == 0
    code, out, err = run_cli(capsys, monkeypatch, "addresses", "add-reference", "addressbase",
                             str(bundled_file("reference.csv.gz", "addresses")), "--home", home)
    assert code == 0, err
    assert "Added reference base addressbase@1:" in out
    code, out, err = run_cli(capsys, monkeypatch, "data", "add", "addr-train",
                             str(bundled_file("train.csv.gz", "addresses")), "--label-column", "id",
                             "--reference", "addressbase", "--home", home)
    assert code == 0, err
    assert "not in addressbase@1" in out and "Added dataset addr-train@1" in out
    code, out, _ = run_cli(capsys, monkeypatch, "data", "list", "--home", home)
    assert "(reference base)" in out and "ids of" in out
    code, out, err = run_cli(capsys, monkeypatch, "addresses", "add-reference", "bad",
                             str(bundled_file("train.csv.gz", "addresses")), "--home", home)
    assert code == 2 and "no id column 'id'" not in err and "no address columns found" in err
