"""The demo: the whole auto-coding flow on the bundled SOC2010 coding index, offline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from statops.classifications import ClassificationInfo, add_classification
from statops.coding.model import ProgressCallback
from statops.data import DatasetInfo, add_dataset
from statops.registry import EvaluationOutcome, TrainingOutcome, evaluate_version, train_and_register
from statops.serving.batch import RowsProgress, ScoreSummary, score_file
from statops.workspace import Workspace

MODEL_NAME = "soc2010-coder"
ATTRIBUTION = ("Contains public sector information licensed under the Open Government Licence v3.0 "
               "(ONS SOC2010 coding index).")


def bundled_file(name: str) -> Path:
    """A file of the bundled SOC2010 data (train, dev, test, structure), gzip-compressed CSV."""
    return Path(str(files("statops") / "demo_data" / "soc2010" / name))


@dataclass
class DemoReport:
    workspace: Workspace
    classification: ClassificationInfo
    datasets: dict[str, DatasetInfo]
    training: TrainingOutcome
    evaluation: EvaluationOutcome
    scoring: ScoreSummary


def run_demo(
    home: str | Path | None = None,
    step: Callable[[str], None] | None = None,
    training_progress: ProgressCallback | None = None,
    scoring_progress: RowsProgress | None = None,
) -> DemoReport:
    """init -> classification -> datasets -> train -> evaluate -> score the test file."""
    say = step or (lambda _message: None)
    say("Creating the workspace")
    ws = Workspace.init(home)
    say("Loading the SOC2010 classification")
    classification = add_classification(ws, "soc2010", bundled_file("structure.csv.gz"), version="2010")
    datasets = {}
    for split in ("train", "dev", "test"):
        say(f"Registering the {split} data")
        datasets[split] = add_dataset(
            ws, f"soc2010-{split}", bundled_file(f"{split}.csv.gz"), text_column="text",
            label_column="soc2010", classification="soc2010", cycle="2016", gsbpm="5.2",
        )
    say("Training the auto-coder")
    training = train_and_register(ws, MODEL_NAME, datasets["train"].ref, datasets["dev"].ref,
                                  progress=training_progress)
    version_ref = f"{MODEL_NAME}/{training.registered.version}"
    say("Evaluating on the test data")
    evaluation = evaluate_version(ws, version_ref, datasets["test"].ref)
    say("Scoring the test file")
    output = ws.home / "demo" / "soc2010-test-coded.csv"
    output.parent.mkdir(exist_ok=True)
    scoring = score_file(ws, version_ref, bundled_file("test.csv.gz"), output, "text",
                         progress=scoring_progress)
    return DemoReport(ws, classification, datasets, training, evaluation, scoring)
