"""What a retraining works from, gathered and checked before anything is written: the champion (the
production version, else the latest) and the training data its run recorded, the new labelled data, the
held-out data both models are compared on, the challenger's training options, and the key naming it all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from statops.classifications import Hierarchy
from statops.data import DatasetInfo, get_dataset, load_dataset
from statops.data.answers import dataset_answers
from statops.errors import Conflict, InvalidInput
from statops.pipelines.combine import CombinedData, Source, check_new_data, combine
from statops.pipelines.steps import input_key
from statops.registry.card import catalogued, recorded_datasets
from statops.registry.gates import latest_evaluation
from statops.registry.training import labelled_dataset
from statops.registry.versions import ModelVersionRef, resolve_model
from statops.tasks import Task, get_task
from statops.workspace import Workspace

COST_SETTINGS = ("retrain_minutes_per_record", "retrain_cycle_days", "retrain_break_tolerance",
                 "retrain_horizon_cycles", "retrain_overhead_hours", "retrain_review_items")


@dataclass(frozen=True)
class Plan:
    champion: ModelVersionRef
    task: Task
    hierarchy: Hierarchy
    classification: str | None  # NAME@VERSION, or None for codes read from prefixes
    base: DatasetInfo  # the champion's training data
    new: list[tuple[DatasetInfo, pd.DataFrame]]
    holdout: tuple[DatasetInfo, pd.DataFrame]
    holdout_why: str
    dev_ref: str | None  # the champion's calibration dataset, which the challenger is calibrated on too
    options: dict[str, Any]  # the champion's training options
    combined: CombinedData
    if_needed: bool
    key: str

    @property
    def holdout_info(self) -> DatasetInfo:
        return self.holdout[0]

    def params(self) -> dict[str, Any]:
        """The parent run's params: what the retraining read."""
        return {"model": self.champion.name, "champion_version": self.champion.version, "task": self.task.name,
                "base_dataset": self.base.ref, "new_datasets": ",".join(i.ref for i, _ in self.new),
                "holdout_dataset": self.holdout_info.ref, "dev_dataset": self.dev_ref or "held-out split",
                "if_needed": self.if_needed, **{f"option_{k}": v for k, v in sorted(self.options.items())}}


def champion_training_data(ws: Workspace, champion: ModelVersionRef, run: Any) -> tuple[DatasetInfo, pd.DataFrame]:
    """The dataset the champion's training run recorded as its input, refused unless this catalogue holds
    exactly that data (same sha256)."""
    training = next((d for d in recorded_datasets(run) if d.role == "training"), None)
    if training is None:
        raise Conflict(f"{champion.describe()}: its training run recorded no training dataset, so there is no "
                       "training data to add the new data to; train a version with `statops train` first")
    info = catalogued(ws, training.ref, training.sha256)
    if info is None:
        raise Conflict(f"{champion.describe()} was trained on dataset {training.ref} (sha256 "
                       f"{training.sha256[:12]}...), which this catalogue does not hold with that content; it "
                       "cannot be combined with new data")
    return info, load_dataset(ws, info)


def _holdout(ws: Workspace, champion: ModelVersionRef, run: Any, ref: str | None,
             base: DatasetInfo) -> tuple[tuple[DatasetInfo, pd.DataFrame], str]:
    """The data both models are evaluated on: --holdout, else the champion's newest evaluation dataset,
    else its calibration dataset; never its training data."""
    if ref is not None:
        return labelled_dataset(ws, ref, "evaluation"), "given with --holdout"
    evaluated = latest_evaluation(ws, champion.name, champion.version)
    if evaluated is not None and "@" in evaluated.dataset and evaluated.dataset != base.ref:
        return labelled_dataset(ws, evaluated.dataset, "evaluation"), "the champion's newest evaluation dataset"
    dev = run.data.params.get("dev_dataset", "")
    if "@" in dev:
        return (labelled_dataset(ws, dev, "evaluation"),
                "the champion's calibration (dev) dataset: both models chose their threshold on it, so its figures "
                "flatter both; pass --holdout for untouched data")
    raise InvalidInput(f"{champion.describe()} has no evaluation dataset and was calibrated on a split of its "
                       "training data: pass --holdout DATASET@N with labelled records neither model was trained on")


def plan_retrain(ws: Workspace, model: str, new_refs: Sequence[str], holdout_ref: str | None,
                 if_needed: bool) -> Plan:
    """Everything a retraining of `model` with `new_refs` needs, checked; raises before anything is written."""
    if not new_refs:
        raise InvalidInput("retraining needs new labelled data: --with DATASET[@N] (e.g. a review export)")
    champion = resolve_model(ws, model)
    assert champion.run_id is not None
    run = ws.mlflow.get_run(champion.run_id)
    base, base_frame = champion_training_data(ws, champion, run)
    hierarchy, classification = dataset_answers(ws, base, base_frame)
    new = []
    for ref in dict.fromkeys(new_refs):
        info = get_dataset(ws, ref)
        if info.ref == base.ref:
            raise InvalidInput(f"dataset {info.ref} is what {champion.describe()} was trained on, not new data")
        frame = load_dataset(ws, info)
        check_new_data(info, frame, hierarchy, classification)
        new.append((info, frame))
    holdout, why = _holdout(ws, champion, run, holdout_ref, base)
    if holdout[0].ref in {i.ref for i, _ in new}:
        raise InvalidInput(f"dataset {holdout[0].ref} cannot be both new training data and the held-out data")
    check_new_data(holdout[0], holdout[1], hierarchy, classification)
    assert holdout[0].label_column
    combined = combine([Source(base, base_frame, False), *(Source(i, f, True) for i, f in new)],
                       holdout[1][holdout[0].text_column])
    task = get_task(champion.task)
    options = task.options_from_params(run.data.params)
    dev = run.data.params.get("dev_dataset", "")
    key = input_key({
        "model": champion.name, "champion": [champion.version, champion.run_id], "base": base.sha256,
        "new": [[i.ref, i.sha256] for i, _ in new], "holdout": [holdout[0].ref, holdout[0].sha256],
        "options": options, "if_needed": if_needed,
        "settings": {name: getattr(ws.settings, name) for name in COST_SETTINGS},
    })
    return Plan(champion, task, hierarchy, classification, base, new, holdout, why, dev if "@" in dev else None,
                options, combined, if_needed, key)
