"""Train-and-register and evaluate-a-version: the catalogue, a task and MLflow together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from statops.classifications import Hierarchy
from statops.data import DatasetInfo, get_dataset, load_dataset
from statops.data.answers import dataset_answers
from statops.errors import InvalidInput
from statops.files import check_report_path
from statops.registry.loading import load_model
from statops.registry.runs import (
    EvaluationFiles,
    LoggedTraining,
    RegisteredVersion,
    log_evaluation,
    log_training_run,
    register_training,
)
from statops.registry.versions import ModelVersionRef, resolve_model
from statops.tasks import DEFAULT_TASK, FitRequest, FitResult, ProgressCallback, Task, TaskEvaluation, get_task
from statops.workspace import Workspace


@dataclass(frozen=True)
class TrainingOutcome:
    registered: RegisteredVersion
    result: FitResult
    train: DatasetInfo
    dev: DatasetInfo | None
    classification: str | None


@dataclass(frozen=True)
class EvaluationOutcome:
    model: ModelVersionRef
    dataset: DatasetInfo
    evaluation: TaskEvaluation
    run_id: str
    files: EvaluationFiles  # the run's JSON, chart, tables and HTML report
    report: Path | None = None  # the copy of the HTML report asked for, if any

    def summary(self) -> dict[str, object]:
        """What was evaluated, where its files are, and the evaluation summary (for JSON output)."""
        return {
            "model": self.model.name, "version": self.model.version, "dataset": self.dataset.ref,
            "run_id": self.run_id, "location": self.files.location, "files": self.files.files,
            "report": str(self.report) if self.report else None, **self.evaluation.summary(),
        }


def labelled_dataset(ws: Workspace, ref: str, purpose: str) -> tuple[DatasetInfo, pd.DataFrame]:
    info = get_dataset(ws, ref)
    if not info.label_column:
        raise InvalidInput(f"dataset {info.ref} has no label column, so it cannot be used for {purpose}")
    return info, load_dataset(ws, info)


def check_same_answers(train: DatasetInfo, dev: DatasetInfo | None) -> None:
    """Training and dev data must be labelled in the same classification, or with the same reference base."""
    if dev and (dev.classification != train.classification or dev.reference != train.reference):
        def answers(info: DatasetInfo) -> str:
            return (f"classification {info.classification}" if info.classification else
                    f"reference base {info.reference}" if info.reference else "no classification")
        raise InvalidInput(f"dev dataset {dev.ref} uses {answers(dev)} but training dataset {train.ref} "
                           f"uses {answers(train)}")


def task_reference(ws: Workspace, task: Task, train: DatasetInfo) -> pd.DataFrame | None:
    """The reference base a task links records to (its whole table), for a task that needs one."""
    if not task.needs_reference:
        return None
    if not train.reference:
        raise InvalidInput(f"task {task.name} links records to a reference base, but dataset {train.ref} names "
                           "none: add it with `statops data add ... --reference BASE`")
    return load_dataset(ws, get_dataset(ws, train.reference))


@dataclass(frozen=True)
class FittedRun:
    """A model trained and logged as an MLflow run, not registered yet."""

    logged: LoggedTraining
    result: FitResult
    train: DatasetInfo
    dev: DatasetInfo | None
    classification: str | None


def fit_and_log(
    ws: Workspace,
    model_name: str,
    data_ref: str,
    dev_ref: str | None = None,
    options: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    task: str = DEFAULT_TASK,
    parent_run_id: str | None = None,
) -> FittedRun:
    """Train a model of `task` on a catalogued dataset and log the run (with the version's monitoring
    reference) to MLflow, nested under `parent_run_id` if given; `register_training` registers it."""
    trainer = get_task(task)
    train_info, train_frame = labelled_dataset(ws, data_ref, "training")
    dev = labelled_dataset(ws, dev_ref, "calibration") if dev_ref else None
    check_same_answers(train_info, dev[0] if dev else None)
    hierarchy, classification = dataset_answers(ws, train_info, train_frame)
    assert train_info.label_column
    result = trainer.fit(FitRequest(
        train_texts=train_frame[train_info.text_column],
        train_labels=train_frame[train_info.label_column],
        hierarchy=hierarchy,
        dev_texts=dev[1][dev[0].text_column] if dev else None,
        dev_labels=dev[1][dev[0].label_column] if dev and dev[0].label_column else None,
        options=dict(options or {}),
        reference=task_reference(ws, trainer, train_info),
    ), progress)
    logged = log_training_run(ws, model_name, trainer, result, (train_info, train_frame), dev, classification,
                              parent_run_id)
    _save_monitoring_reference(ws, logged.run_id, result, hierarchy, (train_info, train_frame), dev)
    return FittedRun(logged, result, train_info, dev[0] if dev else None, classification)


def train_and_register(
    ws: Workspace,
    model_name: str,
    data_ref: str,
    dev_ref: str | None = None,
    options: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    task: str = DEFAULT_TASK,
) -> TrainingOutcome:
    """Train a model of `task` on a catalogued dataset, log the run to MLflow and register a version.
    `options` are the task's own (for coding: target_accuracy, seed, regularisation, dev_share)."""
    fitted = fit_and_log(ws, model_name, data_ref, dev_ref, options, progress, task)
    registered = register_training(ws, fitted.logged)
    return TrainingOutcome(registered, fitted.result, fitted.train, fitted.dev, fitted.classification)


def _save_monitoring_reference(ws: Workspace, run_id: str, result: FitResult,
                               hierarchy: Hierarchy, train: tuple[DatasetInfo, pd.DataFrame],
                               dev: tuple[DatasetInfo, pd.DataFrame] | None) -> None:
    """The version's monitoring reference profile, from the model's answers on the dev data, kept with its
    training run. Without a dev dataset it comes from a sample of the training records, marked in-sample."""
    # monitoring reads the registry, so it is imported here, on use, not when the registry loads
    from statops.monitoring.reference import build_reference
    from statops.monitoring.reference_store import save_reference

    train_info, train_frame = train
    texts = train_frame[train_info.text_column]
    if dev:
        source, reference_texts = f"dev dataset {dev[0].ref}", dev[1][dev[0].text_column]
        labels = dev[1][dev[0].label_column] if dev[0].label_column else None
    else:
        sample = train_frame.sample(n=min(len(train_frame), 5_000), random_state=0)
        source, reference_texts = f"a sample of training dataset {train_info.ref}", sample[train_info.text_column]
        labels = sample[train_info.label_column] if train_info.label_column else None
    target = getattr(result.model, "target_accuracy", None)
    profile = build_reference(result.model, reference_texts, hierarchy, source, vocabulary_texts=texts,
                              labels=labels, target_accuracy=float(target) if target is not None else None,
                              in_sample=dev is None)
    save_reference(ws, run_id, profile)


def evaluate_version(ws: Workspace, model_ref: str, data_ref: str,
                     report: str | Path | None = None) -> EvaluationOutcome:
    """Evaluate a registered version on a labelled dataset and log it as an MLflow run; with
    `report`, also write the evaluation's HTML report there."""
    report_path = check_report_path(report) if report is not None else None  # refuse before the work
    ref = resolve_model(ws, model_ref)
    info, frame = labelled_dataset(ws, data_ref, "evaluation")
    task = get_task(ref.task)
    model = load_model(ws, ref)
    assert info.label_column
    evaluation = task.evaluate(model, frame[info.text_column], frame[info.label_column])
    files = log_evaluation(ws, ref, task, info, frame, evaluation)
    written = files.download_report(ws, report_path) if report_path else None
    return EvaluationOutcome(ref, info, evaluation, files.run_id, files, written)
