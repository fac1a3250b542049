"""The MLflow pyfunc wrapper of every statops model, logged as code; its parts load without pickle.

The wrapper is the same for every task: it reads the task's name from the model's configuration
(models registered before tasks had names are coders) and has that task load the model's files.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from statops.errors import InvalidInput
from statops.tasks import DEFAULT_TASK, TaskModel, get_task

TEXT_COLUMN = "text"
TASK_CONFIG = "task"  # the model_config key that names the task


def input_texts(model_input: Any) -> pd.Series:
    """The texts from a frame with a `text` column (or a single column), a Series or a list."""
    if isinstance(model_input, pd.DataFrame):
        if TEXT_COLUMN in model_input.columns:
            return model_input[TEXT_COLUMN]
        if model_input.shape[1] == 1:
            return model_input.iloc[:, 0]
        raise InvalidInput(f"input needs a '{TEXT_COLUMN}' column; it has {', '.join(map(str, model_input.columns))}")
    if isinstance(model_input, pd.Series):
        return model_input
    if isinstance(model_input, list | tuple):
        return pd.Series(list(model_input), dtype="string")
    raise InvalidInput(f"cannot predict on input of type {type(model_input).__name__}")


class StatopsPyfuncModel(PythonModel):
    """predict(frame with 'text') -> the task's output table, one row per record."""

    # The logged signature is the schema; MLflow's type-hint wrapping of predict does not apply.
    _skip_type_hint_validation = True
    model: TaskModel

    def load_context(self, context):  # type: ignore[no-untyped-def]
        task = (context.model_config or {}).get(TASK_CONFIG, DEFAULT_TASK)
        self.model = get_task(task).load(context.artifacts["model"])

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return self.model.predict_frame(input_texts(model_input))


CodingPyfuncModel = StatopsPyfuncModel  # the name the entry point of versions logged before tasks imports
