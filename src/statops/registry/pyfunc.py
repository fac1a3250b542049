"""The MLflow pyfunc wrapper of a statops model; logged as code, its parts load without pickle."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from statops.coding import CodingModel, load_model
from statops.errors import InvalidInput

TEXT_COLUMN = "text"


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


class CodingPyfuncModel(PythonModel):
    """predict(frame with 'text') -> code, title, confidence, decision, alternatives."""

    model: CodingModel

    def load_context(self, context):  # type: ignore[no-untyped-def]
        self.model = load_model(context.artifacts["model"])

    # No type hints here: MLflow would read them as a schema; the logged signature is the schema.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return self.model.predict_frame(input_texts(model_input))
