"""The contract every task keeps (the scikit-learn `check_estimator` habit): one suite, run for each
task in `statops.tasks.TASKS`. A new task passes it before registry, scoring and serving take it."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statops import InvalidInput
from statops.addresses.reference_table import reference_table
from statops.classifications import Hierarchy
from statops.demo import bundled_file
from statops.scoring.predict import as_columns, predict_columns
from statops.tasks import (
    ANSWER_COLUMNS,
    COMMON_METRICS,
    DECISIONS,
    FitRequest,
    FitResult,
    Task,
    TaskModel,
    get_task,
    task_names,
)
from tests.addresses.conftest import demo_slice


def _sample(name: str, rows: int, folder: str = "soc2010") -> pd.DataFrame:
    frame = pd.read_csv(bundled_file(f"{name}.csv.gz", folder), dtype=str, keep_default_na=False)
    return frame.sample(n=min(rows, len(frame)), random_state=7).reset_index(drop=True)


@dataclass(frozen=True)
class Sample:
    """A small labelled sample of a task's data: what to fit on (with options), and test records."""

    request: FitRequest
    test: pd.DataFrame  # columns text and label


def _coding_sample(options: dict[str, Any]) -> Sample:
    structure = pd.read_csv(bundled_file("structure.csv.gz"), dtype=str, keep_default_na=False)
    train, dev, test = _sample("train", 2500), _sample("dev", 500), _sample("test", 300)
    return Sample(FitRequest(train.text, train.soc2010, Hierarchy.from_structure(structure), dev.text, dev.soc2010,
                             options), test.rename(columns={"soc2010": "label"})[["text", "label"]])


def _address_sample(options: dict[str, Any]) -> Sample:
    bed = demo_slice()  # a few towns of the bundled address base, and the addresses recorded in them
    reference = reference_table(bed.reference, "id")
    answers = Hierarchy.flat(dict(zip(reference.id, reference.address, strict=True)), "answer")
    return Sample(FitRequest(bed.train.text, bed.train.id, answers, bed.dev.text, bed.dev.id, options, reference),
                  bed.test.rename(columns={"id": "label"})[["text", "label"]])


SAMPLES: dict[str, Callable[[dict[str, Any]], Sample]] = {"coding": _coding_sample, "addresses": _address_sample}
"""Each task's sample: a new task adds its own here, and passes this suite before the lifecycle takes it."""


@pytest.fixture(scope="module", params=task_names())
def fitted(request: pytest.FixtureRequest) -> tuple[Task, FitResult, pd.DataFrame]:
    """Each task fitted on a small labelled sample; its test sample beside it."""
    task = get_task(request.param)
    result = task.fit(SAMPLES[task.name]({"seed": 0}).request)
    return task, result, SAMPLES[task.name]({}).test


def test_the_task_is_registered_under_its_name(fitted) -> None:  # noqa: ANN001
    task, result, _ = fitted
    assert get_task(task.name) is task
    assert set(ANSWER_COLUMNS) <= set(task.output_columns)
    assert isinstance(result.model, TaskModel) and result.model.task == task.name
    assert result.train_records > 0 and result.dev_records > 0 and result.fit_seconds > 0


def test_unknown_options_and_tasks_are_refused(fitted) -> None:  # noqa: ANN001
    task, _, test = fitted
    with pytest.raises(InvalidInput, match="no option sede"):
        task.fit(SAMPLES[task.name]({"sede": 1}).request)
    with pytest.raises(InvalidInput, match="unknown task 'nope'"):
        get_task("nope")


def test_predictions_are_the_fixed_table(fitted) -> None:  # noqa: ANN001
    task, result, test = fitted
    table = result.model.predict_frame(test.text)
    assert tuple(table.columns) == task.output_columns and len(table) == len(test)
    assert table["confidence"].between(0, 1).all()
    assert set(table["decision"]) <= set(DECISIONS)
    assert ((table["confidence"] >= result.model.threshold) == (table["decision"] == "auto")).all()
    for text in table["alternatives"]:
        assert isinstance(json.loads(text), list)
    # the lists the API and files take are the same table, whichever way the model gives them
    texts = [*test.text.head(20), "", *test.text.head(3)]
    assert predict_columns(result.model, texts) == as_columns(result.model.predict_frame(texts))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.one_of(st.just(""), st.just("  "), st.text(max_size=40),
                                st.sampled_from(["nurse", "bus driver", "chartered accountant"])), max_size=30))
def test_one_row_per_record_in_order_for_any_texts(fitted, texts: list[str]) -> None:  # noqa: ANN001
    task, result, _ = fitted
    table = result.model.predict_frame(pd.Series(texts, dtype=object))
    assert len(table) == len(texts) and tuple(table.columns) == task.output_columns
    alone = [result.model.predict_frame([text]).iloc[0]["code"] for text in texts]
    assert table["code"].tolist() == alone  # each record is answered on its own, in its place
    blank = [text.strip() == "" for text in texts]
    assert (table.loc[blank, "decision"] == "review").all() and (table.loc[blank, "code"] == "").all()


def test_save_and_load_give_the_same_answers(fitted) -> None:  # noqa: ANN001
    task, result, test = fitted
    with tempfile.TemporaryDirectory() as tmp:
        folder = task.save(result.model, Path(tmp) / "model")
        pickles = [p for p in folder.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib")]
        assert not pickles  # parts load without unpickling
        loaded = task.load(folder)
    pd.testing.assert_frame_equal(loaded.predict_frame(test.text), result.model.predict_frame(test.text))


def test_evaluation_and_its_files(fitted) -> None:  # noqa: ANN001
    task, result, test = fitted
    evaluation = task.evaluate(result.model, test.text, test.label)
    assert evaluation.records == len(test)
    metrics = evaluation.metrics()
    assert metrics and all(isinstance(v, float) and np.isfinite(v) for v in metrics.values())
    # what listings, gates and comparisons read (auto_coded_accuracy only when some answer was decided auto)
    assert set(COMMON_METRICS) - {"auto_coded_accuracy"} <= set(metrics)
    json.dumps(evaluation.as_dict())  # JSON-ready
    with tempfile.TemporaryDirectory() as tmp:
        files = task.write_evaluation(evaluation, Path(tmp), "evaluation", "contract <check>")
        assert "evaluation_report.html" in files
        assert {p.name for p in Path(tmp).iterdir()} == set(files)
        assert "contract &lt;check&gt;" in (Path(tmp) / "evaluation_report.html").read_text()


def test_the_model_describes_itself(fitted) -> None:  # noqa: ANN001
    task, result, _ = fitted
    described = task.describe(result.model)
    assert described.params and all(isinstance(k, str) for k in described.params)
    assert all(isinstance(v, str) for v in described.tags.values())
    assert described.card and all(isinstance(v, str) and v for v in described.card.values())
    assert "volume" in described.signals and "auto_coded_share" in described.signals


def test_the_card_sections_say_what_the_model_is_for_and_where_it_falls_short(fitted) -> None:  # noqa: ANN001
    task, result, _ = fitted
    labels = SAMPLES[task.name]({}).request.train_labels.value_counts().to_dict()
    evaluation = json.loads(json.dumps(result.dev_evaluation.as_dict()))  # as read back from evaluation/dev.json
    sections = task.card_sections(task.describe(result.model).card, evaluation, labels)
    assert sections and all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in sections.items())
    assert "Intended use" in sections and "Limitations" in sections
    if task.name == "coding":
        count, rarest = min((n, code) for code, n in labels.items())
        assert count >= 10 or rarest in sections["Limitations"]  # codes learnt from few records are named
    bare = task.card_sections({}, {}, {})  # a version with nothing recorded (an old one) still gets a card
    assert "Limitations" in bare and all(bare.values())


def test_the_recorded_params_give_back_the_options_that_reproduce_the_fit(fitted) -> None:  # noqa: ANN001
    task, result, test = fitted
    params = {k: str(v) for k, v in task.describe(result.model).params.items()}  # as MLflow keeps them
    params |= {"train_records": str(result.train_records), "dev_records": str(result.dev_records),
               "dev_dataset": "contract-dev@1"}
    options = task.options_from_params(params)
    again = task.fit(SAMPLES[task.name](options).request)
    assert again.dev_evaluation.metrics() == result.dev_evaluation.metrics()
    pd.testing.assert_frame_equal(again.model.predict_frame(test.text), result.model.predict_frame(test.text))
    with pytest.raises(InvalidInput, match="cannot be reproduced"):
        task.options_from_params({})
