"""MLflow glue for models of any task: training and evaluation runs, registered versions as typed
records, whether a version is in service, loading models.

Names are imported on first use (MLflow is large, and importing it pulls in a web stack), so
`import statops.scoring` stays light until a model is resolved."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statops.registry.lifecycle import check_in_service, retired_reason
    from statops.registry.loading import load_model
    from statops.registry.runs import EvaluationFiles, RegisteredVersion, log_evaluation, log_training
    from statops.registry.training import (
        EvaluationOutcome,
        TrainingOutcome,
        evaluate_version,
        train_and_register,
    )
    from statops.registry.versions import (
        PRODUCTION_ALIAS,
        EvaluationRecord,
        ModelSummary,
        ModelVersionInfo,
        ModelVersionRef,
        list_models,
        model_versions,
        resolve_model,
    )

_HOMES = {
    "lifecycle": ("check_in_service", "retired_reason"),
    "loading": ("load_model",),
    "runs": ("EvaluationFiles", "RegisteredVersion", "log_evaluation", "log_training"),
    "training": ("EvaluationOutcome", "TrainingOutcome", "evaluate_version", "train_and_register"),
    "versions": ("PRODUCTION_ALIAS", "EvaluationRecord", "ModelSummary", "ModelVersionInfo", "ModelVersionRef",
                 "list_models", "model_versions", "resolve_model"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'statops.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(f"statops.registry.{_MODULE_OF[name]}"), name)


__all__ = [
    "PRODUCTION_ALIAS", "EvaluationFiles", "EvaluationOutcome", "EvaluationRecord", "ModelSummary",
    "ModelVersionInfo", "ModelVersionRef", "RegisteredVersion", "TrainingOutcome", "check_in_service",
    "evaluate_version", "list_models", "load_model", "log_evaluation", "log_training", "model_versions",
    "resolve_model", "retired_reason", "train_and_register",
]
