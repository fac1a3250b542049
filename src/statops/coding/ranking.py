"""Ranking helpers shared by training and prediction."""

from __future__ import annotations

import numpy as np


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k largest values, largest first."""
    k = min(k, values.shape[1])
    top = np.argpartition(-values, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(values, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)
