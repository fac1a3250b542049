"""The task interface: what the lifecycle (registry, scoring, serving) needs of a kind of model,
and the tasks by name.

A *task* turns free-text records into a fixed table of answers, one row per record, in order.
Every task's table has the columns of `ANSWER_COLUMNS` (what the prediction log keeps, and what
review and monitoring read) among its own. Registry, scoring and serving talk to `Task` and
`TaskModel` only; a task's package knows nothing of MLflow, HTTP or the CLI. A new task is a new
package plus one line in `TASKS` (see docs/architecture.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from statops.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from statops.classifications import Hierarchy

ANSWER_COLUMNS = ("code", "confidence", "decision", "alternatives")
"""Every task's output has these: the answer (a code, a matched address id...), its
calibrated confidence, 'auto' or 'review', and the candidates, best first, as JSON text: a list of
objects with at least `code` and `probability` (and `title` where the answer has words)."""
SHOWN_COLUMNS = ("title",)
"""Every task's output also has these, which answers show but the log does not keep: the answer's
title (a code's title in the classification, a matched address)."""
DECISIONS = ("auto", "review")
COMMON_METRICS = ("accuracy", "auto_coded_share", "auto_coded_accuracy", "threshold", "target_accuracy", "ece")
"""What every task's `TaskEvaluation.metrics()` holds under these names, as registry listings, quality gates
and champion/challenger comparisons read them: the top answer right (for addresses: of those in the
reference base), the share decided 'auto' (coded automatically, the match accepted), how often those are
right (only when some answer was decided 'auto'), the threshold, the target it was chosen for, and the
calibration error."""
DEFAULT_TASK = "coding"

ProgressCallback = Callable[[str, float], None]
"""Long work reports (stage, fraction done)."""


@runtime_checkable
class TaskModel(Protocol):
    """A trained model of some task. It may also have `predict_columns(texts) -> dict[str, list]`:
    `predict_frame`'s table as one list per column, which the HTTP API and files take without a
    DataFrame between (for one record, building the frame can cost more than the answer)."""

    @property
    def task(self) -> str:
        """The name of its task."""

    @property
    def threshold(self) -> float:
        """The confidence at or above which an answer is decided 'auto'."""

    def predict_frame(self, texts: pd.Series | Sequence[str]) -> pd.DataFrame:
        """One row per text, in order, with its task's `output_columns`."""


class TaskEvaluation(Protocol):
    """The quality of a model on labelled records."""

    records: int

    def metrics(self) -> dict[str, float]:
        """Flat measures (logged as MLflow metrics), the `COMMON_METRICS` among them."""

    def summary(self) -> dict[str, Any]:
        """The headline figures, JSON-ready."""

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""


@dataclass(frozen=True)
class FitRequest:
    """What a task is trained from: labelled texts, optional dev data for calibration, what the labels
    are (a classification's hierarchy, or a reference base's ids as one level), the task's own options by
    name, and, for a task that `needs_reference`, the reference base's table (an empty label then says a
    record's answer is not in it)."""

    train_texts: pd.Series
    train_labels: pd.Series
    hierarchy: Hierarchy
    dev_texts: pd.Series | None = None
    dev_labels: pd.Series | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    reference: pd.DataFrame | None = None


@dataclass
class FitResult:
    model: TaskModel
    dev_evaluation: TaskEvaluation
    fit_seconds: float
    train_records: int
    dev_records: int


@dataclass(frozen=True)
class ModelDescription:
    """What a trained model says of itself: MLflow params of its training run, tags of its
    registered version, model-card sections, and the monitoring signals that fit it."""

    params: dict[str, Any]
    tags: dict[str, str]
    card: dict[str, str]
    signals: tuple[str, ...]


class Task(Protocol):
    """A kind of model: how it is trained, evaluated, saved and loaded, and what it answers."""

    name: str
    output_columns: tuple[str, ...]  # ANSWER_COLUMNS and SHOWN_COLUMNS among them
    needs_reference: bool  # trained with a reference base (FitRequest.reference), its labels the base's ids
    decided_auto: str  # what an 'auto' decision is, in words: 'auto-coded', 'matches accepted'

    def fit(self, request: FitRequest, progress: ProgressCallback | None = None) -> FitResult:
        """Train a model (options unknown to the task are an InvalidInput)."""

    def evaluate(self, model: TaskModel, texts: pd.Series, labels: pd.Series) -> TaskEvaluation:
        """Every quality measure of `model` on labelled records."""

    def write_evaluation(self, evaluation: TaskEvaluation, folder: Path, stem: str, heading: str,
                         facts: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
        """An evaluation's tables, charts and one self-contained page `{stem}_report.html` into
        `folder`; returns file name -> what it holds."""

    def save(self, model: TaskModel, folder: Path) -> Path:
        """Write the model's files into `folder` (no pickle)."""

    def load(self, folder: Path) -> TaskModel:
        """Read a model written by `save`."""

    def describe(self, model: TaskModel) -> ModelDescription:
        """Params, version tags, card sections and monitoring signals of a trained model."""

    def card_sections(self, model_card: Mapping[str, str], evaluation: Mapping[str, Any],
                      training_labels: Mapping[str, int]) -> dict[str, str]:
        """The task's part of a version's model card, heading -> Markdown: what it does (an
        `Intended use` section is added to the card's own), how it works and its limitations, from
        `describe(model).card`, the dev evaluation (`as_dict()`) and the training records per label."""

    def options_from_params(self, params: Mapping[str, str]) -> dict[str, Any]:
        """The `fit` options that reproduce a training run, from the MLflow params it logged
        (`describe(model).params` and the run's `train_records`, `dev_dataset`, `dev_records`)."""


@contextmanager
def reading_params() -> Iterator[None]:
    """Around reading a training run's params back into options: a missing or unreadable one is an
    InvalidInput that says the run cannot be reproduced."""
    try:
        yield
    except KeyError as exc:
        raise InvalidInput(f"the training run recorded no parameter {exc.args[0]}, so it cannot be "
                           "reproduced") from None
    except ValueError as exc:
        raise InvalidInput(f"the training run's parameters cannot be read back: {exc}") from None


def held_out_share(params: Mapping[str, str]) -> float | None:
    """The share held out for calibration when a run had no dev dataset (its size, with the seed, fixes which
    records were held out); None when it had one."""
    if "@" in params.get("dev_dataset", ""):
        return None
    kept, held = int(params["train_records"]), int(params["dev_records"])
    return held / (kept + held)


TASKS: dict[str, str] = {
    "coding": "statops.coding.task:CodingTask",
    "addresses": "statops.addresses.task:AddressTask",
}
"""Task name -> 'module:class'. Imported on first use, so the lifecycle never imports every task."""

_loaded: dict[str, Task] = {}


def get_task(name: str) -> Task:
    """The task registered as `name`."""
    if name not in _loaded:
        if name not in TASKS:
            raise InvalidInput(f"unknown task '{name}'; tasks: {', '.join(sorted(TASKS))}")
        module, cls = TASKS[name].split(":")
        _loaded[name] = getattr(importlib.import_module(module), cls)()
    return _loaded[name]


def task_names() -> list[str]:
    return sorted(TASKS)
