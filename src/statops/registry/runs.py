"""MLflow runs for training and evaluation, and registration of model versions."""

from __future__ import annotations

import importlib.metadata
import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import infer_signature

from statops.data import DatasetInfo
from statops.errors import Conflict
from statops.files import write_file_atomically
from statops.names import check_name
from statops.provenance import git_commit, package_version
from statops.registry.card import TRAINING_LABELS, read_artifact_json, refresh_cards, training_labels
from statops.registry.lifecycle import STATE_TAG
from statops.registry.pyfunc import TASK_CONFIG, TEXT_COLUMN
from statops.registry.quiet import mlflow_info_off, mlflow_prints_off
from statops.registry.states import TRAINED_BY_TAG, record_registration
from statops.registry.versions import ModelVersionRef
from statops.store.schema import ModelVersionState
from statops.tasks import FitResult, Task, TaskEvaluation, TaskModel
from statops.workspace import Workspace

ENTRY_POINT = Path(__file__).with_name("pyfunc_entry.py")
RUNTIME_PACKAGES = ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas", "pyarrow")
MLFLOW_DIGEST_LENGTH = 32  # MLflow's dataset digest column is short; the full sha256 goes in a tag


@dataclass(frozen=True)
class EvaluationFiles:
    """Where an evaluation's files went: its MLflow run, the folder (a local path for the embedded
    store, else the artifact URI), and each file's name with what it holds."""

    run_id: str
    location: str
    files: dict[str, str]
    report: str  # the file name of the one-page report among `files`

    def download_report(self, ws: Workspace, path: Path) -> Path:
        """Copy the report page out of the run's artifacts to `path`, atomically."""
        with tempfile.TemporaryDirectory() as tmp:
            local = ws.mlflow.download_artifacts(self.run_id, f"evaluation/{self.report}", tmp)
            return write_file_atomically(Path(local).read_bytes(), path)


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    experiment_id: str
    dev_evaluation: EvaluationFiles | None = None  # the files of the training run's dev evaluation


def _requirements() -> list[str]:
    pins = []
    for package in RUNTIME_PACKAGES:
        try:
            pins.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(package)
    return pins + [f"statops=={package_version()}"]


def _log_dataset(ws: Workspace, info: DatasetInfo, frame: pd.DataFrame, context: str) -> None:
    source = (ws.home / info.snapshot_path).as_uri()
    with warnings.catch_warnings():  # a file URI matches two equivalent MLflow source types
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(frame, source=source, name=info.ref,
                                          digest=info.sha256[:MLFLOW_DIGEST_LENGTH],
                                          targets=info.label_column)
    mlflow.log_input(dataset, context=context, tags={"sha256": info.sha256})


def _artifact_location(uri: str) -> str:
    """A local path for a file URI (what a user can open), else the URI itself."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return url2pathname(parsed.path)
    return uri


def _log_evaluation(task: Task, evaluation: TaskEvaluation, prefix: str, heading: str,
                    facts: list[tuple[str, str]]) -> EvaluationFiles:
    """Metrics, the JSON and the task's tables, charts and report into the active run."""
    stem = prefix.rstrip("_") or "evaluation"
    mlflow.log_metrics({f"{prefix}{k}": v for k, v in evaluation.metrics().items()})
    mlflow.log_dict(evaluation.as_dict(), f"evaluation/{stem}.json")
    with tempfile.TemporaryDirectory() as tmp:
        files = task.write_evaluation(evaluation, Path(tmp), stem, heading, facts)
        files[f"{stem}.json"] = "every measure, the curve and the tables"
        mlflow.log_artifacts(tmp, "evaluation")
    run = mlflow.active_run()
    assert run is not None
    location = _artifact_location(mlflow.get_artifact_uri("evaluation"))
    return EvaluationFiles(run.info.run_id, location, files, f"{stem}_report.html")


def _report_facts(model: str, dataset: DatasetInfo, records: int, run_id: str) -> list[tuple[str, str]]:
    return [
        ("model", model), ("dataset", dataset.ref), ("dataset sha256", dataset.sha256),
        ("classification", f"{dataset.classification}@{dataset.classification_version}")
        if dataset.classification else ("reference base", dataset.reference) if dataset.reference
        else ("classification", "code prefixes"),
        ("records", f"{records:,}"), ("MLflow run", run_id),
        ("evaluated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")), ("statops", package_version()),
    ]


def provenance_tags() -> dict[str, str]:
    tags = {"statops.version": package_version()}
    commit = git_commit()
    if commit:
        tags["statops.git_commit"] = commit
    return tags


def log_model_files(task: Task, model: TaskModel, folder: Path) -> Any:
    """Log the model files in `folder` (written by `task.save`) as the active run's pyfunc model, served
    through statops' own wrapper; returns MLflow's ModelInfo."""
    example = pd.DataFrame({TEXT_COLUMN: pd.array(["example text"], dtype="string")})
    signature = infer_signature(example.astype(object), model.predict_frame(example[TEXT_COLUMN]))
    with mlflow_info_off():
        return mlflow.pyfunc.log_model(
            name="model", python_model=str(ENTRY_POINT), artifacts={"model": str(folder)},
            model_config={TASK_CONFIG: task.name},
            signature=signature, input_example=example, pip_requirements=_requirements(),
        )


@dataclass(frozen=True)
class LoggedTraining:
    """A training run with its model logged but not registered yet: what registering it needs."""

    model: str
    run_id: str
    experiment_id: str
    model_uri: str
    version_tags: dict[str, str]
    dev_evaluation: EvaluationFiles | None = None


MODEL_URI_TAG = "statops.model_uri"  # the logged model of a training run, for registering it later
VERSION_TAGS = "version_tags.json"  # the tags its registered version gets (besides who trained it and its state)
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own: shows a run nested under another


def log_training_run(
    ws: Workspace,
    model_name: str,
    task: Task,
    result: FitResult,
    train: tuple[DatasetInfo, pd.DataFrame],
    dev: tuple[DatasetInfo, pd.DataFrame] | None,
    classification: str | None,
    parent_run_id: str | None = None,
) -> LoggedTraining:
    """One MLflow run for a training: params, inputs, dev metrics and files, the model (not registered;
    `register_training` does that). With `parent_run_id` the run is nested under that run."""
    check_name(model_name, "model")
    model = result.model
    described = task.describe(model)
    train_info, train_frame = train
    experiment_id = ws.experiment_id(model_name)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train {model_name}") as run:
        mlflow.set_tags({"statops.kind": "training", "statops.model": model_name, "task": task.name,
                         **provenance_tags(), **({PARENT_RUN_TAG: parent_run_id} if parent_run_id else {})})
        mlflow.log_params({
            "task": task.name, **described.params,
            "train_dataset": train_info.ref, "train_records": result.train_records,
            "dev_dataset": dev[0].ref if dev else "held-out split of training data",
            "dev_records": result.dev_records, "classification": classification or "code prefixes",
        })
        _log_dataset(ws, train_info, train_frame, "training")
        if dev:
            _log_dataset(ws, dev[0], dev[1], "calibration")
        mlflow.log_metric("fit_seconds", result.fit_seconds)
        mlflow.log_dict(described.card, "model_card.json")
        dev_name = dev[0].ref if dev else "held-out split of the training data"
        facts = _report_facts(f"{model_name} (this training run)", dev[0] if dev else train_info,
                              result.dev_records, run.info.run_id)
        if not dev:
            facts[1:3] = [("dataset", f"held-out split of {train_info.ref}")]
        dev_files = _log_evaluation(task, result.dev_evaluation, "dev_", f"{model_name}: quality on {dev_name}",
                                    facts)
        if train_info.label_column:
            mlflow.log_dict(training_labels(train_frame[train_info.label_column]), TRAINING_LABELS)
        with tempfile.TemporaryDirectory() as tmp:
            info = log_model_files(task, model, task.save(model, Path(tmp) / "model"))
        tags = {
            "task": task.name, "classification": classification or "code prefixes",
            "cycle": train_info.cycle or "", "gsbpm": train_info.gsbpm or "", **described.tags,
            "dataset": train_info.ref, "dataset_sha256": train_info.sha256,
        }
        mlflow.log_dict(tags, VERSION_TAGS)
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return LoggedTraining(model_name, run.info.run_id, experiment_id, info.model_uri, tags, dev_files)


def logged_training(ws: Workspace, model_name: str, run_id: str) -> LoggedTraining:
    """A training run logged earlier (by `log_training_run`), read back to register it."""
    run = ws.mlflow.get_run(run_id)
    tags = read_artifact_json(ws, run_id, VERSION_TAGS)
    uri = run.data.tags.get(MODEL_URI_TAG)
    if run.info.status != "FINISHED" or not uri or not isinstance(tags, dict):
        raise Conflict(f"training run {run_id} did not finish logging its model ({run.info.status}); "
                       "it cannot be registered")
    return LoggedTraining(model_name, run_id, run.info.experiment_id, uri, tags)


def register_training(ws: Workspace, logged: LoggedTraining) -> RegisteredVersion:
    """Register a logged training run's model as a candidate version, with its state and audit rows. Done
    once per run: a version already registered from the run is returned (and given the state and audit
    rows a crash may have kept it from), never a second one."""
    existing = [mv for mv in ws.mlflow.search_model_versions(f"name='{logged.model}'")
                if mv.run_id == logged.run_id]
    if existing:
        version = min(existing, key=lambda mv: int(mv.version))
    else:
        tags = {**logged.version_tags, TRAINED_BY_TAG: ws.actor, STATE_TAG: "candidate"}
        with mlflow_prints_off():
            version = mlflow.register_model(logged.model_uri, logged.model, tags=tags)
    number = str(version.version)
    with ws.store.session() as session:
        if session.get(ModelVersionState, (logged.model, number)) is None:
            record_registration(session, logged.model, number, logged.version_tags.get("task", ""), ws.actor)
            ws.store.audit(session, ws.actor, "model.register", f"{logged.model}/{number}", after="candidate",
                           run_id=logged.run_id, dataset=logged.version_tags.get("dataset"),
                           dataset_sha256=logged.version_tags.get("dataset_sha256"))
    refresh_cards(ws, logged.model, [number])
    return RegisteredVersion(logged.model, number, logged.run_id, logged.experiment_id, logged.dev_evaluation)


def log_training(
    ws: Workspace,
    model_name: str,
    task: Task,
    result: FitResult,
    train: tuple[DatasetInfo, pd.DataFrame],
    dev: tuple[DatasetInfo, pd.DataFrame] | None,
    classification: str | None,
) -> RegisteredVersion:
    """One MLflow run for a training: params, inputs, dev metrics and files, the model; registers it."""
    return register_training(ws, log_training_run(ws, model_name, task, result, train, dev, classification))


def log_evaluation(ws: Workspace, ref: ModelVersionRef, task: Task, info: DatasetInfo, frame: pd.DataFrame,
                   evaluation: TaskEvaluation) -> EvaluationFiles:
    """An MLflow run recording `evaluation` of a model version on a dataset; returns where its files went."""
    with mlflow.start_run(experiment_id=ws.experiment_id(ref.name),
                          run_name=f"evaluate {ref.name}/{ref.version} on {info.ref}") as run:
        mlflow.set_tags({"statops.kind": "evaluation", "statops.model": ref.name,
                         "statops.model_version": ref.version, "task": task.name, **provenance_tags()})
        mlflow.log_params({"model": ref.name, "model_version": ref.version, "dataset": info.ref,
                           "records": evaluation.records})
        _log_dataset(ws, info, frame, "evaluation")
        facts = _report_facts(f"{ref.name} version {ref.version}", info, evaluation.records, run.info.run_id)
        return _log_evaluation(task, evaluation, "", f"{ref.name} version {ref.version} on {info.ref}", facts)
