"""Reproducing a registered version: train again from the dataset snapshots, parameters and seed its
training run recorded, and say metric by metric whether the result is the same.

The datasets are checked before any training: the version's tags (`dataset`, `dataset_sha256`), the
run's params (`train_dataset`, `dev_dataset`) and its MLflow dataset inputs must agree, and the
catalogue's snapshot must still hold exactly that data (its sha256). Installed package versions are
compared with the model's requirements and any difference is reported. The reproduction is an MLflow
run of its own (`statops.kind` = `reproduction`, never registered) and an audit row.
"""

from __future__ import annotations

import importlib.metadata
import math
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from statops.accounts import Actor, require
from statops.data import DatasetInfo, get_dataset, load_dataset
from statops.data.answers import dataset_answers
from statops.errors import Conflict, InvalidInput, NotFound, StatopsError
from statops.registry.card import RecordedDataset, recorded_datasets
from statops.registry.runs import _log_dataset, provenance_tags
from statops.registry.training import task_reference
from statops.registry.versions import ModelVersionRef, resolve_model
from statops.tasks import FitRequest, ProgressCallback, get_task
from statops.workspace import Workspace

PREFIX = "dev_"  # the training run's own evaluation: what a reproduction must match
FIT_COUNTS = ("train_records", "dev_records")


@dataclass(frozen=True)
class Comparison:
    """One recorded figure (a `dev_*` metric or a parameter) beside the reproduced one."""

    name: str
    kind: str  # 'metric' or 'param'
    recorded: Any
    reproduced: Any
    matches: bool


@dataclass(frozen=True)
class PackageDifference:
    package: str
    recorded: str
    installed: str | None  # None: not installed


@dataclass(frozen=True)
class Reproduction:
    model: str
    version: str
    training_run: str
    run_id: str  # the reproduction's MLflow run
    datasets: list[RecordedDataset]
    options: dict[str, Any]
    comparisons: list[Comparison]
    packages: list[PackageDifference] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def matches(self) -> bool:
        return all(c.matches for c in self.comparisons)

    @property
    def differing(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.matches]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "matches": self.matches}


def _same(recorded: Any, reproduced: Any) -> bool:
    if isinstance(recorded, float) and isinstance(reproduced, float):
        return recorded == reproduced or (math.isnan(recorded) and math.isnan(reproduced))
    return recorded is not None and recorded == reproduced


def _recorded(ref: ModelVersionRef, run: Any) -> dict[str, RecordedDataset]:
    """The run's training and calibration datasets, once its params, inputs and the version's tags agree."""
    params, tags = run.data.params, ref.tags
    found = {d.role: d for d in recorded_datasets(run)}
    training = found.get("training")
    if training is None:
        raise Conflict(f"the training run of {ref.name} version {ref.version} recorded no training dataset "
                       "input, so the data it learnt from cannot be checked")
    claims = {"the run's param train_dataset": (params.get("train_dataset"), None),
              "the version's tags dataset and dataset_sha256": (tags.get("dataset"), tags.get("dataset_sha256"))}
    for where, (name, sha) in claims.items():
        if name != training.ref or (sha is not None and sha != training.sha256):
            raise Conflict(f"{ref.name} version {ref.version}: {where} ({name} {sha or ''}) disagree with the "
                           f"run's training input ({training.ref} {training.sha256}); it cannot be reproduced")
    dev = params.get("dev_dataset", "")
    if "@" in dev:
        calibration = found.get("calibration")
        if calibration is None or calibration.ref != dev:
            raise Conflict(f"{ref.name} version {ref.version}: the run's param dev_dataset ({dev}) has no matching "
                           "calibration input; it cannot be reproduced")
    else:
        found.pop("calibration", None)
    return found


def _load(ws: Workspace, recorded: RecordedDataset, version: str) -> tuple[DatasetInfo, pd.DataFrame]:
    """The snapshot of a recorded dataset, refused unless it holds exactly the data recorded."""
    try:
        info = get_dataset(ws, recorded.ref)
    except NotFound as exc:
        raise NotFound(f"dataset {recorded.ref}, which version {version} was trained on, is not in this "
                       f"workspace's catalogue ({exc})") from exc
    if info.sha256 != recorded.sha256:
        raise Conflict(f"dataset {recorded.ref} here has sha256 {info.sha256}, but version {version} was trained "
                       f"on sha256 {recorded.sha256}: not the same data, so it cannot be reproduced")
    if not info.label_column:
        raise InvalidInput(f"dataset {info.ref} has no label column")
    try:
        return info, load_dataset(ws, info)
    except StatopsError as exc:
        raise Conflict(f"{exc}; version {version} cannot be reproduced from it") from exc
    except Exception as exc:  # a snapshot file that is no longer Parquet
        raise Conflict(f"the snapshot of dataset {info.ref} cannot be read ({exc}); version {version} cannot be "
                       "reproduced from it") from exc


def package_differences(ws: Workspace, ref: ModelVersionRef) -> list[PackageDifference]:
    """Packages whose installed version differs from the model's requirements (`name==version` lines)."""
    ws.activate_mlflow()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=f"{ref.uri}/requirements.txt", dst_path=tmp)
            lines = Path(local).read_text(encoding="utf-8").splitlines()
        except Exception:  # a model logged without requirements: nothing recorded to compare
            return []
    out = []
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+).*", line)
        if not match:
            continue
        package, recorded = match.groups()
        try:
            installed: str | None = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != recorded:
            out.append(PackageDifference(package, recorded, installed))
    return out


def reproduce_version(ws: Workspace, actor: Actor, model: str, version: str,
                      progress: ProgressCallback | None = None) -> Reproduction:
    """Train `model` version `version` again from its recorded data, parameters and seed; compare."""
    require(ws, actor, "models.train")
    ref = resolve_model(ws, f"{model}/{version}")
    assert ref.run_id is not None
    run = ws.mlflow.get_run(ref.run_id)
    params = run.data.params
    task = get_task(ref.task)
    datasets = _recorded(ref, run)
    train_info, train_frame = _load(ws, datasets["training"], ref.version)
    dev = _load(ws, datasets["calibration"], ref.version) if "calibration" in datasets else None
    hierarchy, classification = dataset_answers(ws, train_info, train_frame)
    if params.get("classification") not in (None, classification or "code prefixes"):
        raise Conflict(f"version {ref.version} was trained with classification {params['classification']}, but "
                       f"dataset {train_info.ref} now resolves to {classification or 'code prefixes'}")
    options = task.options_from_params(params)
    packages = package_differences(ws, ref)
    started = time.perf_counter()
    assert train_info.label_column
    result = task.fit(FitRequest(
        train_texts=train_frame[train_info.text_column], train_labels=train_frame[train_info.label_column],
        hierarchy=hierarchy, dev_texts=dev[1][dev[0].text_column] if dev else None,
        dev_labels=dev[1][str(dev[0].label_column)] if dev else None, options=options,
        reference=task_reference(ws, task, train_info),
    ), progress)
    metrics = {f"{PREFIX}{k}": v for k, v in result.dev_evaluation.metrics().items()}
    recorded = {k: v for k, v in run.data.metrics.items() if k.startswith(PREFIX)}
    comparisons = [Comparison(k, "metric", recorded.get(k), metrics.get(k), _same(recorded.get(k), metrics.get(k)))
                   for k in sorted(set(recorded) | set(metrics))]
    described = {k: str(v) for k, v in task.describe(result.model).params.items()}
    described |= {"train_records": str(result.train_records), "dev_records": str(result.dev_records)}
    comparisons += [Comparison(k, "param", params.get(k), v, params.get(k) == v) for k, v in sorted(described.items())
                    if k in params]
    with mlflow.start_run(experiment_id=ws.experiment_id(ref.name),
                          run_name=f"reproduce {ref.name}/{ref.version}") as new:
        same = all(c.matches for c in comparisons)
        mlflow.set_tags({"statops.kind": "reproduction", "statops.model": ref.name,
                         "statops.model_version": ref.version, "statops.reproduces_run": ref.run_id,
                         "statops.reproduced": "matches" if same else "differs", "task": task.name,
                         **provenance_tags()})
        mlflow.log_params({**described, "reproduces_run": ref.run_id, "model_version": ref.version,
                           **{f"option_{k}": v for k, v in options.items()}})
        _log_dataset(ws, train_info, train_frame, "training")
        if dev:
            _log_dataset(ws, dev[0], dev[1], "calibration")
        mlflow.log_metrics({**metrics, "fit_seconds": result.fit_seconds})
        outcome = Reproduction(ref.name, ref.version, ref.run_id, new.info.run_id, list(datasets.values()), options,
                               comparisons, packages, time.perf_counter() - started)
        mlflow.log_dict(outcome.as_dict(), "reproduction.json")
    with ws.store.session() as session:
        ws.store.audit(session, actor.name, "model.reproduce", f"{ref.name}/{ref.version}",
                       after="matches" if same else "differs", run_id=new.info.run_id, training_run=ref.run_id,
                       differing=[c.name for c in outcome.differing],
                       packages=[f"{p.package} {p.recorded} -> {p.installed or 'missing'}" for p in packages])
    return outcome
