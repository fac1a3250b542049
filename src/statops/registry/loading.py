"""Loading a registered version's model, whatever its task, through MLflow's pyfunc flavour."""

from __future__ import annotations

import mlflow

from statops.errors import Conflict
from statops.registry.pyfunc import StatopsPyfuncModel
from statops.registry.versions import ModelVersionRef
from statops.tasks import TaskModel
from statops.workspace import Workspace


def load_model(ws: Workspace, ref: ModelVersionRef | str) -> TaskModel:
    """The model of a registered version (or of a model URI, e.g. a training run's model not registered
    yet). Each call loads afresh; callers that answer many requests load through scoring's bounded model
    cache."""
    uri = ref if isinstance(ref, str) else ref.uri
    ws.activate_mlflow()
    wrapper = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    if not isinstance(wrapper, StatopsPyfuncModel):
        raise Conflict(f"{uri} is not a statops model")
    return wrapper.model
