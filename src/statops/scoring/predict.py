"""Predicting with a loaded model of any task, as plain columns: what files, the HTTP API and the
prediction log all take."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from statops.tasks import TaskModel

Columns = dict[str, list[Any]]
"""A prediction table as one list per output column (the task's `output_columns`, in order)."""


def as_columns(frame: pd.DataFrame) -> Columns:
    return {str(name): frame[name].tolist() for name in frame.columns}


def predict_columns(model: TaskModel, texts: Sequence[str] | pd.Series) -> Columns:
    """The model's output table for `texts`, one row per text, as columns: the model's own
    `predict_columns` where it has one (see statops.tasks.TaskModel), else its frame's."""
    own = getattr(model, "predict_columns", None)
    return own(texts) if callable(own) else as_columns(model.predict_frame(texts))
