"""A small matcher trained once per session on a slice of the bundled demo test bed: the addresses of
a few towns and the queries about them (fast enough for the suite, real enough to measure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import statops
from statops.addresses.model import AddressModel
from statops.addresses.train import fit_matcher

DEMO = Path(statops.__file__).parent / "demo_data" / "addresses"
SLICE_ADDRESSES = 1400


@dataclass
class Bed:
    reference: pd.DataFrame
    train: pd.DataFrame
    dev: pd.DataFrame
    test: pd.DataFrame


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DEMO / f"{name}.csv.gz", dtype=str, keep_default_na=False)


def _queries(frame: pd.DataFrame, ids: set[str], towns: list[str]) -> pd.DataFrame:
    """The queries about the chosen towns: those whose address is in the slice, and the
    not-in-reference ones that name one of the towns."""
    upper = frame["text"].str.upper()
    about = frame["id"].isin(ids) | ((frame["id"] == "") & upper.apply(lambda t: any(town in t for town in towns)))
    return frame[about].reset_index(drop=True)


@pytest.fixture(scope="session")
def demo_bed() -> Bed:
    """The smallest towns of the demo reference up to SLICE_ADDRESSES addresses, and their queries."""
    return demo_slice()


def demo_slice() -> Bed:
    """The smallest towns of the demo reference up to SLICE_ADDRESSES addresses, and their queries."""
    reference = _read("reference")
    counts = reference["town"].value_counts(ascending=True)
    towns = list(counts.index[counts.cumsum() <= SLICE_ADDRESSES])
    part = reference[reference["town"].isin(towns)].reset_index(drop=True)
    ids = set(part["id"])
    return Bed(part, *(_queries(_read(name), ids, towns) for name in ("train", "dev", "test")))


@pytest.fixture(scope="session")
def trained(demo_bed: Bed) -> tuple[AddressModel, object]:
    """A matcher fitted on the slice (model, its dev evaluation)."""
    return fit_matcher(demo_bed.reference, demo_bed.train["text"], demo_bed.train["id"], demo_bed.dev["text"],
                       demo_bed.dev["id"], options={"seed": 0})


@pytest.fixture(scope="session")
def model(trained: tuple[AddressModel, object]) -> AddressModel:
    return trained[0]
