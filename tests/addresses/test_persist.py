"""Saving and loading: the same answers after a round trip, and no pickle anywhere in the folder."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from statops.addresses.model import AddressModel
from statops.addresses.persist import load_model, save_model
from statops.errors import InvalidInput

PICKLE_OPCODES = (b"\x80",)  # protocol 2+ pickles start with PROTO


@pytest.fixture(scope="module")
def saved(model: AddressModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(model, tmp_path_factory.mktemp("address-model") / "model")


def test_round_trip_gives_identical_predict_frame(model: AddressModel, saved: Path, demo_bed) -> None:  # type: ignore[no-untyped-def]
    texts = pd.concat([demo_bed.test["text"].head(120), pd.Series(["", "ZZ99 9ZZ"])], ignore_index=True)
    loaded = load_model(saved)
    pd.testing.assert_frame_equal(model.predict_frame(texts), loaded.predict_frame(texts))
    assert loaded.threshold == model.threshold
    assert loaded.describe()["reference_sha256"] == model.describe()["reference_sha256"]


def test_saved_folder_holds_no_pickle(saved: Path) -> None:
    files = [p for p in saved.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"reference.parquet", "parser.crfsuite", "encoder.skops", "vectors.usearch",
                                        "reranker.skops", "model.json"}
    for path in files:
        assert not path.name.endswith((".pkl", ".pickle", ".joblib")), path
        head = path.read_bytes()[:2]
        assert not head.startswith(PICKLE_OPCODES), f"{path} starts like a pickle"
        if path.suffix == ".skops":  # a zip of JSON and .npy arrays, no pickled member
            with zipfile.ZipFile(path) as archive:
                schema = json.loads(archive.read("schema.json"))
                assert "__loader__" in schema
                for member in archive.namelist():
                    assert not archive.read(member)[:2].startswith(PICKLE_OPCODES), member
    assert (saved / "reference.parquet").read_bytes()[:4] == b"PAR1"
    assert (saved / "parser.crfsuite").read_bytes()[:4] == b"lCRF"


def test_loading_a_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not hold a statops address model"):
        load_model(tmp_path)
