"""MLflow runs for training and evaluation, and registration of model versions."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import infer_signature
from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

from statops.coding import CodingModel, Evaluation, TrainingResult, render_report, save_model
from statops.coding.chart import coverage_chart
from statops.data import DatasetInfo
from statops.errors import Conflict
from statops.names import check_name
from statops.provenance import git_commit, package_version
from statops.registry.versions import ModelVersionRef
from statops.workspace import Workspace

TYPE_HINT_ADVICE = "type hints to the `predict` method"


@contextmanager
def _without_type_hint_advice() -> Iterator[None]:
    """MLflow advises type hints on `predict` when a PythonModel subclass is defined, re-enabling
    the warning inside its own filter; our wrapper carries a logged signature instead. Other
    warnings pass through."""
    with warnings.catch_warnings(record=True) as caught:
        yield
    for warning in caught:
        if TYPE_HINT_ADVICE not in str(warning.message):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


with _without_type_hint_advice():
    from statops.registry.pyfunc import CodingPyfuncModel


@contextmanager
def _mlflow_info_off() -> Iterator[None]:
    """MLflow logs progress at INFO while it logs a model ("Validating input example against model
    signature"); statops reports the outcome itself. Its warnings still show."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _mlflow_prints_off() -> Iterator[None]:
    """MLflow prints "Successfully registered model", "Registered model ... already exists" and
    "Created version" to stderr (through its logging stream, past any log level) when it registers
    a version; statops says which version it registered."""
    enabled = MLFLOW_LOGGING_STREAM.enabled
    MLFLOW_LOGGING_STREAM.enabled = False
    try:
        yield
    finally:
        MLFLOW_LOGGING_STREAM.enabled = enabled


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


def _log_evaluation(evaluation: Evaluation, prefix: str, heading: str,
                    facts: list[tuple[str, str]]) -> tuple[EvaluationFiles, str]:
    """Metrics, the JSON, the chart, the per-code/confusion/worst-code tables and the HTML report
    into the active run; returns where they went and the report's text."""
    stem = prefix.rstrip("_") or "evaluation"
    mlflow.log_metrics({f"{prefix}{k}": v for k, v in evaluation.metrics().items()})
    mlflow.log_dict(evaluation.as_dict(), f"evaluation/{stem}.json")
    report = render_report(evaluation, heading, facts)
    files = {
        f"{stem}_report.html": "all of it on one page, with the chart",
        f"{stem}_per_code.csv": "each code: precision, recall, F1, auto-coding",
        f"{stem}_worst_codes.csv": f"the {len(evaluation.worst_codes)} lowest-F1 codes with "
                                   f"{evaluation.worst_codes_min_support}+ records",
        f"{stem}_confusions.csv": f"the {len(evaluation.confusions)} most frequent confusions",
        f"{stem}_coverage.png": "the coverage-accuracy chart",
        f"{stem}.json": "every measure, the curve and the tables",
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        coverage_chart(evaluation, folder / f"{stem}_coverage.png", heading)
        for name, frame in evaluation.tables().items():
            frame.to_csv(folder / f"{stem}_{name}.csv", index=False)
        (folder / f"{stem}_report.html").write_text(report, encoding="utf-8")
        assert {f.name for f in folder.iterdir()} | {f"{stem}.json"} == set(files)
        mlflow.log_artifacts(str(folder), "evaluation")
    run = mlflow.active_run()
    assert run is not None
    location = _artifact_location(mlflow.get_artifact_uri("evaluation"))
    return EvaluationFiles(run.info.run_id, location, files), report


def _report_facts(model: str, dataset: DatasetInfo, records: int, run_id: str) -> list[tuple[str, str]]:
    return [
        ("model", model), ("dataset", dataset.ref), ("dataset sha256", dataset.sha256),
        ("classification", f"{dataset.classification}@{dataset.classification_version}"
         if dataset.classification else "code prefixes"),
        ("records", f"{records:,}"), ("MLflow run", run_id),
        ("evaluated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")), ("statops", package_version()),
    ]


def provenance_tags() -> dict[str, str]:
    tags = {"statops.version": package_version()}
    commit = git_commit()
    if commit:
        tags["statops.git_commit"] = commit
    return tags


def log_training(
    ws: Workspace,
    model_name: str,
    result: TrainingResult,
    train: tuple[DatasetInfo, pd.DataFrame],
    dev: tuple[DatasetInfo, pd.DataFrame] | None,
    classification: str | None,
) -> RegisteredVersion:
    """One MLflow run for a training: params, inputs, dev metrics and chart, the model; registers it."""
    check_name(model_name, "model")
    model = result.model
    train_info, train_frame = train
    experiment_id = ws.experiment_id(model_name)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train {model_name}") as run:
        mlflow.set_tags({"statops.kind": "training", "statops.model": model_name, "task": "coding",
                         **provenance_tags()})
        mlflow.log_params({
            "task": "coding", "seed": model.metadata.get("seed"),
            "regularisation": model.metadata.get("regularisation"),
            "target_accuracy": model.target_accuracy, "temperature": round(model.temperature, 6),
            "threshold": model.threshold, "classes": len(model.classes),
            "train_dataset": train_info.ref, "train_records": result.train_records,
            "dev_dataset": dev[0].ref if dev else "held-out split of training data",
            "dev_records": result.dev_records, "classification": classification or "code prefixes",
            "features": "tfidf char_wb 2-5 + word 1-2", "classifier": "LinearSVC per level, blended",
            "level_blend": json.dumps(model.metadata.get("level_blend", {})),
        })
        _log_dataset(ws, train_info, train_frame, "training")
        if dev:
            _log_dataset(ws, dev[0], dev[1], "calibration")
        mlflow.log_metric("fit_seconds", result.fit_seconds)
        dev_name = dev[0].ref if dev else "held-out split of the training data"
        facts = _report_facts(f"{model_name} (this training run)", dev[0] if dev else train_info,
                              result.dev_records, run.info.run_id)
        if not dev:
            facts[1:3] = [("dataset", f"held-out split of {train_info.ref}")]
        dev_files, _ = _log_evaluation(result.dev_evaluation, "dev_", f"{model_name}: quality on {dev_name}", facts)
        with _mlflow_info_off(), tempfile.TemporaryDirectory() as tmp:
            folder = save_model(model, Path(tmp) / "model")
            example = pd.DataFrame({"text": pd.array(["example text"], dtype="string")})
            signature = infer_signature(example.astype(object), model.predict_frame(example["text"]))
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(ENTRY_POINT), artifacts={"model": str(folder)},
                signature=signature, input_example=example, pip_requirements=_requirements(),
            )
        tags = {
            "task": "coding", "classification": classification or "code prefixes",
            "cycle": train_info.cycle or "", "gsbpm": train_info.gsbpm or "",
            "threshold": f"{model.threshold:.6f}", "target_accuracy": str(model.target_accuracy),
            "dataset": train_info.ref, "dataset_sha256": train_info.sha256,
        }
        with _mlflow_prints_off():
            version = mlflow.register_model(info.model_uri, model_name, tags=tags)
    with ws.store.session() as session:
        ws.store.audit(session, ws.actor, "model.register", f"{model_name}/{version.version}",
                       run_id=run.info.run_id, dataset=train_info.ref, dataset_sha256=train_info.sha256)
    return RegisteredVersion(model_name, str(version.version), run.info.run_id, experiment_id, dev_files)


def log_evaluation(ws: Workspace, ref: ModelVersionRef, info: DatasetInfo, frame: pd.DataFrame,
                   evaluation: Evaluation) -> tuple[EvaluationFiles, str]:
    """An MLflow run recording `evaluation` of a model version on a dataset; returns where its
    files went and the text of its HTML report."""
    with mlflow.start_run(experiment_id=ws.experiment_id(ref.name),
                          run_name=f"evaluate {ref.name}/{ref.version} on {info.ref}") as run:
        mlflow.set_tags({"statops.kind": "evaluation", "statops.model": ref.name,
                         "statops.model_version": ref.version, **provenance_tags()})
        mlflow.log_params({"model": ref.name, "model_version": ref.version, "dataset": info.ref,
                           "records": evaluation.records})
        _log_dataset(ws, info, frame, "evaluation")
        facts = _report_facts(f"{ref.name} version {ref.version}", info, evaluation.records, run.info.run_id)
        return _log_evaluation(evaluation, "", f"{ref.name} version {ref.version} on {info.ref}", facts)


def load_coding_model(ws: Workspace, ref: ModelVersionRef) -> CodingModel:
    """The model of a registered version, loaded through MLflow's pyfunc flavour.

    Each call loads afresh; callers that serve many requests keep their own bounded cache.
    """
    ws.activate_mlflow()
    wrapper = mlflow.pyfunc.load_model(ref.uri).unwrap_python_model()
    if not isinstance(wrapper, CodingPyfuncModel):
        raise Conflict(f"{ref.uri} is not a statops coding model")
    return wrapper.model
