"""The address test bed: the committed demo copy keeps the data contract, and the builder is deterministic."""

from __future__ import annotations

import gzip
import importlib.util
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "src" / "statops" / "demo_data" / "addresses"
REFERENCE_COLUMNS = ["id", "organisation", "sub_building", "building_name", "building_number", "street", "locality",
                     "town", "postcode"]
SPLITS = ("train", "dev", "test")


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DEMO / f"{name}.csv.gz", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _read("reference")


@pytest.fixture(scope="module")
def queries() -> dict[str, pd.DataFrame]:
    return {s: _read(s) for s in SPLITS}


def test_reference_has_the_contract_columns_and_twelve_digit_unique_text_ids(reference: pd.DataFrame) -> None:
    assert list(reference.columns) == REFERENCE_COLUMNS
    assert reference.id.str.fullmatch(r"\d{12}").all()
    assert reference.id.is_unique
    # some ids start with 0: a reader that casts ids to int would lose them, so the data can catch it
    assert reference.id.str.startswith("0").any()


def test_reference_is_upper_case_with_flats_suffixes_ranges_and_shared_street_names(reference: pd.DataFrame) -> None:
    text = reference.drop(columns="id")
    assert (text == text.apply(lambda c: c.str.upper())).all().all()
    flats = reference.sub_building.ne("").mean()
    assert 0.3 <= flats <= 0.5
    assert reference.building_number.str.fullmatch(r"\d+[A-Z]").any()
    assert reference.building_number.str.fullmatch(r"\d+-\d+").any()
    assert reference.sub_building.str.fullmatch(r"FLAT \d+[A-Z]").any()
    towns = reference.groupby("street").town.nunique()
    # most addresses lie on a street whose name other towns have too
    assert reference.street.isin(towns[towns >= 2].index).mean() > 0.5
    assert reference.postcode.str.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}").all()
    # no two ids share one address: a query's truth is never ambiguous by construction
    assert not reference.drop(columns="id").duplicated().any()


def test_queries_refer_to_the_reference_or_are_marked_not_in_it(
        reference: pd.DataFrame, queries: dict[str, pd.DataFrame]) -> None:
    known = set(reference.id)
    for split, q in queries.items():
        assert list(q.columns) == ["text", "id", "style"], split
        assert q.text.str.strip().ne("").all(), split
        assert q.id[q.id.ne("")].isin(known).all(), split
        assert 0.05 <= q.id.eq("").mean() <= 0.15, split
        assert q["style"].nunique() >= 5, split
    assert (len(queries["train"]), len(queries["dev"]), len(queries["test"])) == (3000, 1000, 1000)


def test_a_reference_id_has_all_its_queries_in_one_split(queries: dict[str, pd.DataFrame]) -> None:
    ids = {s: set(q.id[q.id.ne("")]) for s, q in queries.items()}
    assert not ids["train"] & ids["dev"]
    assert not ids["train"] & ids["test"]
    assert not ids["dev"] & ids["test"]


def test_attribution_names_faker_and_address_errors() -> None:
    text = (DEMO / "ATTRIBUTION.txt").read_text(encoding="utf-8")
    assert "Faker" in text and "address-errors 0.1.1" in text and "Joseph Lam" in text


def _builder():
    for module in ("faker", "address_errors"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[dev]' rebuilds the test bed)")
    spec = importlib.util.spec_from_file_location("address_testbed", REPO / "benchmarks" / "address_testbed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["address_testbed"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    bed = _builder()
    sizes = bed.Sizes(reference=800, train=120, dev=40, test=40)
    quiet = lambda _msg: None  # noqa: E731
    for name in ("a", "b", "c"):
        bed.build(1 if name != "c" else 2, tmp_path / name, sizes, quiet)
    for f in ("reference", *SPLITS):
        a, b, c = ((tmp_path / n / f"{f}.csv.gz").read_bytes() for n in "abc")
        assert a == b, f
        assert a != c, f
    # gzip header: mtime 0 and no file name, so the bytes do not depend on when or where it ran
    head = (tmp_path / "a" / "reference.csv.gz").read_bytes()[:10]
    assert head[4:8] == b"\0\0\0\0" and not head[3] & 0x08
    q = pd.read_csv(tmp_path / "a" / "train.csv.gz", dtype=str, keep_default_na=False)
    assert len(q) == 120 and q.id.eq("").sum() == 12
    with gzip.open(tmp_path / "a" / "reference.csv.gz", "rt", encoding="utf-8") as f:
        assert re.fullmatch(",".join(REFERENCE_COLUMNS), f.readline().strip())
