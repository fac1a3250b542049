"""Model-from-code entry point that MLflow logs with each statops model (any task)."""

import mlflow

from statops.registry.pyfunc import StatopsPyfuncModel

mlflow.models.set_model(StatopsPyfuncModel())
