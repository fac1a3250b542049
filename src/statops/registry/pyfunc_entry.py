"""Model-from-code entry point that MLflow logs with each statops coding model."""

import mlflow

from statops.registry.pyfunc import CodingPyfuncModel

mlflow.models.set_model(CodingPyfuncModel())
