"""The fitted gradient-boosted trees evaluated all at once with numpy: every row down every tree in
one loop over depth. scikit-learn walks them one tree at a time and checks its input on each call,
which costs more than the trees themselves for the few dozen candidates of one query."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

CHUNK_ROWS = 4096


class CompiledTrees:
    """A binary HistGradientBoostingClassifier's trees as flat arrays (numerical features only)."""

    def __init__(self, model: HistGradientBoostingClassifier) -> None:
        trees = [per_iteration[0].nodes for per_iteration in model._predictors]
        if any(t["is_categorical"].any() for t in trees) or len(model._predictors[0]) != 1:
            raise ValueError("only binary models on numerical features can be compiled")
        sizes = np.array([len(t) for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate(trees)
        shift = np.repeat(offsets, sizes)
        self.roots = offsets.astype(np.intp)
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.left = (nodes["left"].astype(np.intp) + shift).astype(np.intp)
        self.right = (nodes["right"].astype(np.intp) + shift).astype(np.intp)
        self.leaf = nodes["is_leaf"].astype(bool)
        self.value = nodes["value"].astype(np.float64)
        self.depth = int(nodes["depth"].max()) if len(nodes) else 0
        self.baseline = float(np.asarray(model._baseline_prediction).ravel()[0])

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The sum of the trees' leaf values plus the baseline (log-odds) per row."""
        x = np.asarray(x, dtype=np.float64)
        if len(x) > CHUNK_ROWS:  # rows x trees working arrays: bounded, and kept in cache
            return np.concatenate([self.raw(x[i:i + CHUNK_ROWS]) for i in range(0, len(x), CHUNK_ROWS)])
        at = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            leaf = self.leaf[at]
            if leaf.all():
                break
            values = x[rows, self.feature[at]]
            go_left = np.where(np.isnan(values), self.missing_left[at], values <= self.threshold[at])
            at = np.where(leaf, at, np.where(go_left, self.left[at], self.right[at]))
        return self.value[at].sum(axis=1) + self.baseline

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(class 1) per row."""
        return 1.0 / (1.0 + np.exp(-self.raw(x)))
