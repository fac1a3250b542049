"""MLflow glue: training and evaluation runs, registered versions, loading models."""

from statops.registry.runs import RegisteredVersion, load_coding_model, log_evaluation, log_training
from statops.registry.training import (
    EvaluationOutcome,
    TrainingOutcome,
    evaluate_version,
    train_and_register,
)
from statops.registry.versions import (
    PRODUCTION_ALIAS,
    ModelVersionRef,
    list_models,
    model_versions,
    resolve_model,
)

__all__ = [
    "PRODUCTION_ALIAS", "EvaluationOutcome", "ModelVersionRef", "RegisteredVersion", "TrainingOutcome",
    "evaluate_version", "list_models", "load_coding_model", "log_evaluation", "log_training",
    "model_versions", "resolve_model", "train_and_register",
]
