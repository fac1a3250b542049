"""Linear classifiers per hierarchy level, blended into one code-level linear model.

Besides the classifier over the codes themselves, one classifier is fitted for each level above
them (e.g. minor, sub-major group). A code's score becomes its own score plus a weighted score of
its ancestors; the weights are chosen on dev data. Because the blend is linear it folds into a
single weight matrix, so prediction costs no more than one classifier.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.svm import LinearSVC

from statops.classifications.hierarchy import Hierarchy
from statops.coding.ranking import top_k

BLEND_GRID = (0.0, 0.1, 0.25, 0.5)
MAX_BLEND_LEVELS = 4  # the grid grows as 4**levels; deeper hierarchies blend their nearest levels
SHORTLIST = 5  # the blend is chosen for accuracy and for the top-5 shortlist that coders see


@dataclass
class LinearScores:
    """scores = x @ weights + bias, one column per class."""

    classes: np.ndarray
    weights: np.ndarray  # (n_features, n_classes) float32
    bias: np.ndarray  # (n_classes,) float32

    def scores(self, x: sp.spmatrix) -> np.ndarray:
        return np.asarray(x @ self.weights + self.bias, dtype=np.float64)


def fit_linear(x: sp.spmatrix, labels: np.ndarray, regularisation: float, seed: int) -> LinearScores:
    """A one-vs-rest LinearSVC as a (features x classes) score matrix."""
    model = LinearSVC(C=regularisation, random_state=seed).fit(x, labels)
    weights = np.ascontiguousarray(model.coef_.T, dtype=np.float32)
    bias = model.intercept_.astype(np.float32)
    if len(model.classes_) == 2:  # binary LinearSVC has one score column; make it two
        weights = (np.column_stack([-weights[:, 0], weights[:, 0]]) / 2).astype(np.float32)
        bias = np.array([-bias[0], bias[0]], dtype=np.float32) / 2
    return LinearScores(np.asarray(model.classes_, dtype=object), weights, bias)


def blend_levels(classes: np.ndarray, hierarchy: Hierarchy) -> list[str]:
    """Levels above the codes that group them into more than one and fewer than all groups."""
    levels = []
    for level in hierarchy.levels:
        ancestors = {a for a in hierarchy.at_level(list(classes), level) if a is not None}
        if 1 < len(ancestors) < len(classes):
            levels.append(level)
    return levels[-MAX_BLEND_LEVELS:]


def fit_hierarchical(
    x: sp.spmatrix, labels: np.ndarray, hierarchy: Hierarchy, regularisation: float, seed: int,
    x_dev: sp.spmatrix | None, dev_labels: np.ndarray | None, workers: int = 2,
    blend: dict[str, float] | None = None,
) -> tuple[LinearScores, dict[str, float]]:
    """Fit the code-level and ancestor-level classifiers, choose blend weights on dev (or take
    `blend`, weights chosen before), fold them."""
    levels = blend_levels(np.asarray(sorted(set(labels)), dtype=object), hierarchy)
    jobs: dict[str, tuple[sp.spmatrix, np.ndarray]] = {"": (x, labels)}
    for level in levels:
        ancestors = np.asarray(hierarchy.at_level(list(labels), level), dtype=object)
        known = np.array([a is not None for a in ancestors])
        jobs[level] = (x[known], ancestors[known])
    # Separate processes, not threads: liblinear seeds C's global rand(), so fits sharing a process
    # at the same time would not be reproducible.
    results = Parallel(n_jobs=min(workers, len(jobs)), backend="loky")(
        delayed(fit_linear)(xs, ys, regularisation, seed) for xs, ys in jobs.values()
    )
    fitted = dict(zip(jobs, results, strict=True))
    leaf = fitted.pop("")
    # For each level: which column of that level's scores is each code's ancestor (-1: none).
    columns = {}
    for level, model in fitted.items():
        index = {c: i for i, c in enumerate(model.classes)}
        columns[level] = np.array([index.get(a, -1) for a in hierarchy.at_level(list(leaf.classes), level)])
    if blend is not None:
        weights = {level: float(blend.get(level, 0.0)) for level in fitted}
    else:
        assert x_dev is not None and dev_labels is not None
        weights = _choose_blend(leaf, fitted, columns, x_dev, dev_labels)
    folded_w = leaf.weights.copy()
    folded_b = leaf.bias.copy()
    for level, w in weights.items():
        if w == 0.0:
            continue
        has = columns[level] >= 0
        folded_w[:, has] += np.float32(w) * fitted[level].weights[:, columns[level][has]]
        folded_b[has] += np.float32(w) * fitted[level].bias[columns[level][has]]
    return LinearScores(leaf.classes, folded_w, folded_b), weights


def _choose_blend(leaf: LinearScores, fitted: dict[str, LinearScores], columns: dict[str, np.ndarray],
                  x_dev: sp.spmatrix, dev_labels: np.ndarray) -> dict[str, float]:
    """The grid point with the best dev accuracy plus top-5 accuracy (ties go to the smaller weights,
    found first). Top-5 counts too: ancestor weights that are too large crowd the shortlist with
    siblings of the top code."""
    if not fitted:
        return {}
    base = leaf.scores(x_dev)
    parts = {}
    for level, model in fitted.items():
        scores = model.scores(x_dev)
        has = columns[level] >= 0
        part = np.zeros_like(base)
        part[:, has] = scores[:, columns[level][has]]
        parts[level] = part
    levels = list(fitted)
    best_score, best = -1.0, dict.fromkeys(levels, 0.0)
    for grid_point in itertools.product(BLEND_GRID, repeat=len(levels)):
        blended = base.copy()
        for level, w in zip(levels, grid_point, strict=True):
            if w:
                blended += w * parts[level]
        shortlist = leaf.classes[top_k(blended, SHORTLIST)]
        score = float(np.mean(shortlist[:, 0] == dev_labels) + np.mean((shortlist == dev_labels[:, None]).any(axis=1)))
        if score > best_score + 1e-12:
            best_score, best = score, dict(zip(levels, grid_point, strict=True))
    return best
