"""MLflow glue: training and evaluation runs, registered versions, loading models."""

from statops.registry.runs import (
    EvaluationFiles,
    RegisteredVersion,
    load_coding_model,
    log_evaluation,
    log_training,
)
from statops.registry.training import (
    EvaluationOutcome,
    TrainingOutcome,
    evaluate_version,
    train_and_register,
)
from statops.registry.versions import (
    PRODUCTION_ALIAS,
    EvaluationRecord,
    ModelVersionRef,
    VersionDetail,
    list_models,
    model_versions,
    resolve_model,
    version_details,
)

__all__ = [
    "PRODUCTION_ALIAS", "EvaluationFiles", "EvaluationOutcome", "EvaluationRecord", "ModelVersionRef",
    "RegisteredVersion", "TrainingOutcome", "VersionDetail", "evaluate_version", "list_models",
    "load_coding_model", "log_evaluation", "log_training", "model_versions", "resolve_model",
    "train_and_register", "version_details",
]
