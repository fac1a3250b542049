from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from statops import InvalidInput
from statops.classifications import Hierarchy
from statops.coding import TrainingOptions, evaluate_model, load_model, save_model, train_coder, training_options
from statops.coding.model import word_vocabulary
from statops.tasks import FitRequest


@pytest.fixture(scope="module")
def frames(soc) -> dict[str, pd.DataFrame]:  # noqa: ANN001
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731
    return {"train": read(soc.train), "dev": read(soc.dev), "test": read(soc.test),
            "structure": read(soc.structure)}


def request(frames: dict[str, pd.DataFrame], h: Hierarchy, **options: object) -> FitRequest:
    return FitRequest(train_texts=frames["train"].text, train_labels=frames["train"].soc2010, hierarchy=h,
                      dev_texts=frames["dev"].text, dev_labels=frames["dev"].soc2010, options=options)


@pytest.fixture(scope="module")
def result(frames):  # noqa: ANN001, ANN201
    h = Hierarchy.from_structure(frames["structure"])
    stages = []
    r = train_coder(request(frames, h, seed=3), progress=lambda stage, f: stages.append((stage, f)))
    r.stages = stages
    return r


def test_training_reports_progress_calibrates_and_sets_a_threshold(result) -> None:  # noqa: ANN001
    assert [s for s, _ in result.stages] == ["features", "classifiers", "calibration", "done"]
    model = result.model
    assert 0 < model.threshold <= 1 and model.temperature > 0
    dev = result.dev_evaluation
    assert set(dev.level_accuracy) == {"major", "submajor", "minor", "unit"}
    assert dev.level_accuracy["major"] >= dev.level_accuracy["unit"]
    assert dev.auto_coded_accuracy is None or dev.auto_coded_accuracy >= 0.95


def test_model_is_better_than_chance_and_calibrated_on_test(result, frames) -> None:  # noqa: ANN001
    evaluation = evaluate_model(result.model, frames["test"].text, frames["test"].soc2010)
    assert evaluation.level_accuracy["unit"] > 0.35
    assert evaluation.top5_accuracy > evaluation.accuracy
    assert evaluation.ece < 0.1


def test_training_is_deterministic_for_a_seed(frames, result) -> None:  # noqa: ANN001
    h = Hierarchy.from_structure(frames["structure"])
    again = train_coder(request(frames, h, seed=3))
    texts = frames["test"].text.head(200)
    pd.testing.assert_frame_equal(again.model.predict_frame(texts), result.model.predict_frame(texts))
    assert again.model.threshold == result.model.threshold


def test_save_and_load_give_the_same_predictions_without_pickle(result, frames, tmp_path: Path) -> None:  # noqa: ANN001
    folder = save_model(result.model, tmp_path / "m")
    assert sio.get_untrusted_types(file=folder / "features.skops") == []
    assert not list(folder.glob("*.pkl")) and not list(folder.glob("*.pickle"))
    loaded = load_model(folder)
    texts = frames["test"].text.head(300)
    pd.testing.assert_frame_equal(loaded.predict_frame(texts), result.model.predict_frame(texts))


def test_prediction_table_columns_and_alternatives(result) -> None:  # noqa: ANN001
    table = result.model.predict_frame(pd.Series(["chartered accountant", "Chartered Accountant!", ""]))
    assert list(table.columns) == ["code", "title", "confidence", "decision", "alternatives"]
    assert table.loc[0, "code"] == table.loc[1, "code"]  # normalisation: case and punctuation
    alternatives = json.loads(table.loc[0, "alternatives"])
    assert len(alternatives) == 5 and alternatives[0]["code"] == table.loc[0, "code"]
    assert abs(alternatives[0]["probability"] - table.loc[0, "confidence"]) < 1e-5
    assert sum(a["probability"] for a in alternatives) <= 1 + 1e-6
    assert table.loc[2, "decision"] == "review" and table.loc[2, "confidence"] == 0.0
    assert set(table["decision"]) <= {"auto", "review"}
    assert np.all((table["confidence"] >= 0) & (table["confidence"] <= 1))


def test_without_dev_data_a_seeded_split_is_held_out_and_prefix_levels_are_used(frames) -> None:  # noqa: ANN001
    train = frames["train"].head(1500)
    h = Hierarchy.from_codes(train.soc2010.unique().tolist())
    r = train_coder(FitRequest(train.text, train.soc2010, h, options={"seed": 1}))
    assert r.dev_records == 225 and r.train_records == 1275
    assert list(r.dev_evaluation.level_accuracy) == ["prefix1", "prefix2", "prefix3", "prefix4"]


def test_bad_training_requests() -> None:
    h = Hierarchy.from_codes(["1"])
    with pytest.raises(InvalidInput, match="two different codes"):
        train_coder(FitRequest(pd.Series(["a", "b", "c"]), pd.Series(["1", "1", "1"]), h,
                               pd.Series(["a"]), pd.Series(["1"])))
    with pytest.raises(InvalidInput, match="labels are empty"):
        train_coder(FitRequest(pd.Series(["a", "b", "c"]), pd.Series(["1", "2", ""]), h))
    with pytest.raises(InvalidInput, match="target accuracy"):
        train_coder(FitRequest(pd.Series(["a", "b"]), pd.Series(["1", "2"]), h, options={"target_accuracy": 1.5}))
    with pytest.raises(InvalidInput, match="no option sede"):
        train_coder(FitRequest(pd.Series(["a", "b"]), pd.Series(["1", "2"]), h, options={"sede": 1}))


def test_a_training_request_is_frozen_and_has_default_options() -> None:
    req = FitRequest(pd.Series(["a", "b"]), pd.Series(["1", "2"]), Hierarchy.from_codes(["1", "2"]))
    assert training_options(req.options) == TrainingOptions() and req.dev_texts is None and req.dev_labels is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        req.options = {"seed": 5}  # type: ignore[misc]


def test_the_word_vocabulary_is_found_by_name(result) -> None:  # noqa: ANN001
    features = result.model.features
    vocabulary = word_vocabulary(features)
    assert vocabulary == features.named_transformers["words"].vocabulary_
    assert any(" " in term for term in vocabulary)  # word bigrams
    assert all(term == term.strip() for term in vocabulary)  # no padded character n-grams
    assert vocabulary != features.named_transformers["chars"].vocabulary_
    assert result.model.confidence_model.vocabulary in (None, vocabulary)
