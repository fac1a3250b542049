"""Keeping MLflow's own chatter off the user's terminal while statops logs and registers models."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM


@contextmanager
def mlflow_info_off() -> Iterator[None]:
    """MLflow logs progress at INFO while it logs a model ("Validating input example against model
    signature"); statops reports the outcome itself. Its warnings still show."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def mlflow_prints_off() -> Iterator[None]:
    """MLflow prints "Successfully registered model", "Registered model ... already exists" and
    "Created version" to stderr (through its logging stream, past any log level) when it registers
    a version; statops says which version it registered."""
    enabled = MLFLOW_LOGGING_STREAM.enabled
    MLFLOW_LOGGING_STREAM.enabled = False
    try:
        yield
    finally:
        MLFLOW_LOGGING_STREAM.enabled = enabled
