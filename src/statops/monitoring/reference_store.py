"""Where reference profiles live: files of the version's MLflow training run (`monitoring/`), written at
training or later from a catalogued dataset (`statops monitor MODEL --reference DATASET@N`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from statops.classifications import Hierarchy
from statops.data import get_dataset, load_dataset
from statops.data.answers import named_answers
from statops.errors import InvalidInput, NotFound, StatopsError
from statops.monitoring.reference import FOLDER, ReferenceProfile, build_reference
from statops.registry.loading import load_model
from statops.registry.versions import ModelVersionRef
from statops.workspace import Workspace


def save_reference(ws: Workspace, run_id: str, profile: ReferenceProfile) -> None:
    """Store `profile` as the `monitoring/` files of MLflow run `run_id` (replacing any there)."""
    with tempfile.TemporaryDirectory() as tmp:
        ws.mlflow.log_artifacts(run_id, str(profile.write(Path(tmp) / FOLDER)), FOLDER)


def load_reference(ws: Workspace, ref: ModelVersionRef) -> ReferenceProfile | None:
    """The reference profile of a version, or None when it has none (trained before monitoring existed)."""
    if not ref.run_id:
        return None
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            names = {Path(f.path).name for f in ws.mlflow.list_artifacts(ref.run_id, FOLDER)}
            if "reference.json" not in names:
                return None
            local = ws.mlflow.download_artifacts(ref.run_id, FOLDER, tmp)
        except MlflowException as exc:
            raise StatopsError(f"the monitoring reference of {ref.describe()} cannot be read: {exc}") from exc
        return ReferenceProfile.read(Path(local))


def version_hierarchy(ws: Workspace, ref: ModelVersionRef, codes: list[str]) -> Hierarchy:
    """What a version answers in (its `classification` tag: a classification, a reference base), or the code
    prefixes of `codes`."""
    return named_answers(ws, ref.tags.get("classification"), codes)


def reference_from_dataset(ws: Workspace, ref: ModelVersionRef, dataset_ref: str) -> ReferenceProfile:
    """Build a version's reference profile from a catalogued dataset (held-out records the model was not
    trained on), store it with the version and audit it."""
    info = get_dataset(ws, dataset_ref)
    frame = load_dataset(ws, info)
    if ref.tags.get("dataset") == info.ref:
        raise InvalidInput(f"dataset {info.ref} is what {ref.describe()} was trained on; a reference needs "
                           "held-out records (e.g. its dev or a later cycle's data)")
    labels = frame[info.label_column] if info.label_column else None
    hierarchy = version_hierarchy(ws, ref, labels.astype(str).unique().tolist() if labels is not None else [])
    vocabulary_texts: pd.Series | None = None
    notes: list[str] = []
    trained_on = ref.tags.get("dataset")
    if trained_on:
        try:
            train = get_dataset(ws, trained_on)
            vocabulary_texts = load_dataset(ws, train)[train.text_column]
        except (NotFound, StatopsError) as exc:
            notes.append(f"training dataset {trained_on} not usable for the vocabulary: {exc}")
    model = load_model(ws, ref)
    target = ref.tags.get("target_accuracy")
    profile = build_reference(model, frame[info.text_column], hierarchy, f"dataset {info.ref}",
                              vocabulary_texts=vocabulary_texts, labels=labels,
                              target_accuracy=float(target) if target else None, notes=notes)
    if not ref.run_id:
        raise NotFound(f"{ref.describe()} has no training run to keep its reference with")
    save_reference(ws, ref.run_id, profile)
    with ws.store.session() as session:
        ws.store.audit(session, ws.actor, "monitoring.reference", f"{ref.name}/{ref.version}",
                       dataset=info.ref, dataset_sha256=info.sha256, records=profile.records)
    return profile
