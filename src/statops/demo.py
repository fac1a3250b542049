"""The demo: the whole flow, offline, for auto-coding on the bundled SOC2010 coding index, or for address
matching on a bundled synthetic address base."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from statops.classifications import ClassificationInfo, add_classification
from statops.data import DatasetInfo, add_dataset
from statops.data.catalogue import add_reference_base
from statops.errors import Conflict, InvalidInput
from statops.registry import EvaluationOutcome, TrainingOutcome, evaluate_version, train_and_register
from statops.scoring import ScoreSummary, score_file
from statops.scoring.batch import ChunkProgress
from statops.tasks import ProgressCallback
from statops.workspace import Workspace

MODEL_NAME = "soc2010-coder"
ATTRIBUTION = ("Contains public sector information licensed under the Open Government Licence v3.0 "
               "(ONS SOC2010 coding index).")
ADDRESS_ATTRIBUTION = ("Synthetic addresses (no real ones) made with Faker (MIT licence), recorded with errors by "
                       "address-errors 0.1.1 (MIT licence).")


DEMO_FILES = {"soc2010": ("structure", "train", "dev", "test"), "addresses": ("reference", "train", "dev", "test")}


def bundled_file(name: str, folder: str = "soc2010") -> Path:
    """A file of the bundled data: SOC2010 (train, dev, test, structure) or, in folder `addresses`, the
    synthetic address test bed (reference, train, dev, test); gzip-compressed CSV."""
    return Path(str(files("statops") / "demo_data" / folder / name))


def write_demo_data(folder: str | Path, bundled: str = "soc2010") -> list[Path]:
    """The bundled files of `bundled` (soc2010 or addresses) as plain UTF-8 CSV in `folder`, with their
    licence note.

    Refuses to overwrite: every file is checked before any is written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"{folder} is a file, not a folder")
    names = DEMO_FILES[bundled]
    targets = [folder / f"{name}.csv" for name in names] + [folder / "ATTRIBUTION.txt"]
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise Conflict(f"{', '.join(existing)} already exist(s); choose another folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, target in zip(names, targets, strict=False):
            with gzip.open(bundled_file(f"{name}.csv.gz", bundled), "rb") as source, open(target, "xb") as out:
                shutil.copyfileobj(source, out)
        shutil.copyfile(bundled_file("ATTRIBUTION.txt", bundled), targets[-1])
    except OSError as exc:
        raise InvalidInput(f"cannot write the demo data to {folder}: {exc.strerror or exc}") from exc
    return targets


Answers = Callable[[Workspace, Callable[[str], None]], tuple[str, str | None, str | None]]
"""Adds what a demo's labels are to the workspace: (in words, the classification, the reference base)."""


def _classification(ws: Workspace, say: Callable[[str], None]) -> tuple[str, str | None, str | None]:
    """What the coding demo's labels are: (in words, the classification, no reference base)."""
    say("Loading the SOC2010 classification")
    info: ClassificationInfo = add_classification(ws, "soc2010", bundled_file("structure.csv.gz"), version="2010")
    return f"classification soc2010 version {info.version} ({info.codes} codes)", "soc2010", None


def _reference_base(ws: Workspace, say: Callable[[str], None]) -> tuple[str, str | None, str | None]:
    """What the address demo's labels are: (in words, no classification, the reference base)."""
    from statops.addresses.reference_table import ADDRESS_COLUMN, reference_table
    from statops.tables import UTF8, read_table

    say("Adding the reference address base")
    path = bundled_file("reference.csv.gz", "addresses")
    base = add_reference_base(ws, "addressbase", reference_table(read_table(path, UTF8), "id"), path,
                              ADDRESS_COLUMN, "id", cycle="2026", gsbpm="5.1")
    return f"reference base {base.ref} ({base.rows:,} addresses)", None, base.ref


@dataclass(frozen=True)
class DemoFlow:
    """What one task's demo runs on: the bundled folder, its files' columns, what its labels are, the
    model's name, and the words for what it does."""

    task: str
    folder: str
    model: str
    label_column: str
    attribution: str
    answers: Answers
    cycle: str
    gsbpm: str
    trains: str  # what is trained, in words
    output: str  # the scored test file's name


CODING = DemoFlow("coding", "soc2010", MODEL_NAME, "soc2010", ATTRIBUTION, _classification, "2016", "5.2",
                  "the auto-coder", "soc2010-test-coded.csv")
ADDRESSES = DemoFlow("addresses", "addresses", "address-matcher", "id", ADDRESS_ATTRIBUTION, _reference_base,
                     "2026", "5.1", "the address matcher", "addresses-test-matched.csv")


@dataclass
class DemoReport:
    workspace: Workspace
    flow: DemoFlow
    answers: str  # what the model answers in: the classification, or the reference base
    datasets: dict[str, DatasetInfo]
    training: TrainingOutcome
    evaluation: EvaluationOutcome
    scoring: ScoreSummary


def run_demo(
    home: str | Path | None = None,
    step: Callable[[str], None] | None = None,
    training_progress: ProgressCallback | None = None,
    scoring_progress: ChunkProgress | None = None,
    flow: DemoFlow = CODING,
) -> DemoReport:
    """init -> classification (coding) or reference base (addresses) -> datasets -> train -> evaluate ->
    score the test file."""
    say = step or (lambda _message: None)
    say("Creating the workspace")
    ws = Workspace.init(home)
    answers, classification, reference = flow.answers(ws, say)
    datasets = {}
    for split in ("train", "dev", "test"):
        say(f"Registering the {split} data")
        datasets[split] = add_dataset(
            ws, f"{flow.folder}-{split}", bundled_file(f"{split}.csv.gz", flow.folder), text_column="text",
            label_column=flow.label_column, classification=classification, reference=reference,
            cycle=flow.cycle, gsbpm=flow.gsbpm,
        )
    say(f"Training {flow.trains}")
    training = train_and_register(ws, flow.model, datasets["train"].ref, datasets["dev"].ref,
                                  progress=training_progress, task=flow.task)
    version_ref = f"{flow.model}/{training.registered.version}"
    say("Evaluating on the test data")
    evaluation = evaluate_version(ws, version_ref, datasets["test"].ref)
    say("Scoring the test file")
    output = ws.home / "demo" / flow.output
    output.parent.mkdir(exist_ok=True)
    scoring = score_file(ws, version_ref, bundled_file("test.csv.gz", flow.folder), output, "text",
                         progress=scoring_progress)
    return DemoReport(ws, flow, answers, datasets, training, evaluation, scoring)
