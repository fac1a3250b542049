"""MLflow runs for training and evaluation, and registration of model versions."""

from __future__ import annotations

import importlib.metadata
import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import infer_signature

from statops.coding import CodingModel, Evaluation, TrainingResult, save_model
from statops.coding.chart import coverage_chart
from statops.data import DatasetInfo
from statops.errors import Conflict
from statops.names import check_name
from statops.provenance import git_commit, package_version
from statops.registry.pyfunc import CodingPyfuncModel
from statops.registry.versions import ModelVersionRef
from statops.workspace import Workspace

ENTRY_POINT = Path(__file__).with_name("pyfunc_entry.py")
RUNTIME_PACKAGES = ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas", "pyarrow")
MLFLOW_DIGEST_LENGTH = 32  # MLflow's dataset digest column is short; the full sha256 goes in a tag


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    experiment_id: str


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


def _log_evaluation(evaluation: Evaluation, prefix: str, title: str) -> None:
    stem = prefix.rstrip("_") or "evaluation"
    mlflow.log_metrics({f"{prefix}{k}": v for k, v in evaluation.metrics().items()})
    mlflow.log_dict(evaluation.as_dict(), f"evaluation/{stem}.json")
    with tempfile.TemporaryDirectory() as tmp:
        chart = coverage_chart(evaluation, Path(tmp) / f"{stem}_coverage.png", title)
        mlflow.log_artifact(str(chart), "evaluation")


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
        _log_evaluation(result.dev_evaluation, "dev_", f"{model_name}: dev data")
        with tempfile.TemporaryDirectory() as tmp:
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
        version = mlflow.register_model(info.model_uri, model_name, tags=tags)
    with ws.store.session() as session:
        ws.store.audit(session, ws.actor, "model.register", f"{model_name}/{version.version}",
                       run_id=run.info.run_id, dataset=train_info.ref, dataset_sha256=train_info.sha256)
    return RegisteredVersion(model_name, str(version.version), run.info.run_id, experiment_id)


def log_evaluation(ws: Workspace, ref: ModelVersionRef, info: DatasetInfo, frame: pd.DataFrame,
                   evaluation: Evaluation) -> str:
    """An MLflow run recording `evaluation` of a model version on a dataset; returns its run id."""
    with mlflow.start_run(experiment_id=ws.experiment_id(ref.name),
                          run_name=f"evaluate {ref.name}/{ref.version} on {info.ref}") as run:
        mlflow.set_tags({"statops.kind": "evaluation", "statops.model": ref.name,
                         "statops.model_version": ref.version, **provenance_tags()})
        mlflow.log_params({"model": ref.name, "model_version": ref.version, "dataset": info.ref})
        _log_dataset(ws, info, frame, "evaluation")
        _log_evaluation(evaluation, "", f"{ref.name}/{ref.version} on {info.ref}")
    return run.info.run_id


def load_coding_model(ws: Workspace, ref: ModelVersionRef) -> CodingModel:
    """The model of a registered version, loaded through MLflow's pyfunc flavour.

    Each call loads afresh; callers that serve many requests keep their own bounded cache.
    """
    ws.activate_mlflow()
    wrapper = mlflow.pyfunc.load_model(ref.uri).unwrap_python_model()
    if not isinstance(wrapper, CodingPyfuncModel):
        raise Conflict(f"{ref.uri} is not a statops coding model")
    return wrapper.model
