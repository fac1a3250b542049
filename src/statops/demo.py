"""The demo: the whole auto-coding flow on the bundled SOC2010 coding index, offline."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from statops.classifications import ClassificationInfo, add_classification
from statops.data import DatasetInfo, add_dataset
from statops.errors import Conflict, InvalidInput
from statops.registry import EvaluationOutcome, TrainingOutcome, evaluate_version, train_and_register
from statops.scoring import ScoreSummary, score_file
from statops.scoring.batch import ChunkProgress
from statops.tasks import ProgressCallback
from statops.workspace import Workspace

MODEL_NAME = "soc2010-coder"
ATTRIBUTION = ("Contains public sector information licensed under the Open Government Licence v3.0 "
               "(ONS SOC2010 coding index).")


DEMO_FILES = ("structure", "train", "dev", "test")


def bundled_file(name: str) -> Path:
    """A file of the bundled SOC2010 data (train, dev, test, structure), gzip-compressed CSV."""
    return Path(str(files("statops") / "demo_data" / "soc2010" / name))


def write_demo_data(folder: str | Path) -> list[Path]:
    """The bundled SOC2010 files as plain UTF-8 CSV in `folder`, with their licence note.

    Refuses to overwrite: every file is checked before any is written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"{folder} is a file, not a folder")
    targets = [folder / f"{name}.csv" for name in DEMO_FILES] + [folder / "ATTRIBUTION.txt"]
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise Conflict(f"{', '.join(existing)} already exist(s); choose another folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, target in zip(DEMO_FILES, targets, strict=False):
            with gzip.open(bundled_file(f"{name}.csv.gz"), "rb") as source, open(target, "xb") as out:
                shutil.copyfileobj(source, out)
        shutil.copyfile(bundled_file("ATTRIBUTION.txt"), targets[-1])
    except OSError as exc:
        raise InvalidInput(f"cannot write the demo data to {folder}: {exc.strerror or exc}") from exc
    return targets


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
    scoring_progress: ChunkProgress | None = None,
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
