"""Calibration: temperature scaling of class scores, and a confidence model for the top code.

The confidence model estimates P(top code is right) from signals of the whole class distribution
(top probability, margin, entropy, agreement of the parent levels, how much of the text the model
has seen). It ranks records better than the top probability alone, so more records can be
auto-coded at the same accuracy, and it is fitted on held-out data, so it is calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from statops.classifications.hierarchy import Hierarchy
from statops.coding.linear import blend_levels

EPS = 1e-12
REGULARISATION = 0.1  # of the confidence model's logistic regression


def fit_temperature(scores: np.ndarray, label_index: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of the true classes."""
    known = label_index >= 0
    if not known.any():
        return 1.0
    s, y = scores[known], label_index[known]

    def nll(t: float) -> float:
        return float(-log_softmax(s / t, axis=1)[np.arange(len(y)), y].mean())

    return float(minimize_scalar(nll, bounds=(1e-3, 100.0), method="bounded").x)


@dataclass
class ConfidenceModel:
    """Logistic model of P(top code correct) on standardised signals of the class distribution."""

    ancestor_levels: list[str]
    ancestor_index: list[list[int]] = field(default_factory=list)  # per level: class -> group
    vocabulary: dict[str, int] | None = None
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bias: float = 0.0

    @classmethod
    def for_classes(
        cls, classes: np.ndarray, hierarchy: Hierarchy, vocabulary: dict[str, int] | None
    ) -> ConfidenceModel:
        """Set up the signals: one parent-agreement signal per level above the codes themselves."""
        levels = blend_levels(classes, hierarchy)
        groups = []
        for level in levels:
            ancestors = hierarchy.at_level(list(classes), level)
            lookup = {a: i for i, a in enumerate(sorted({a for a in ancestors if a is not None}))}
            groups.append([lookup[a] if a is not None else -1 for a in ancestors])
        return cls(levels, groups, vocabulary)

    def signals(
        self, scores: np.ndarray, probabilities: np.ndarray, top: np.ndarray, texts: list[str],
        extra: np.ndarray | None = None,
    ) -> np.ndarray:
        """One row of signals per record, from raw class scores, their probabilities and the top-k,
        then the `extra` columns (e.g. the neighbour model's agreement and similarities)."""
        n = probabilities.shape[0]
        rows = np.arange(n)
        p1 = probabilities[rows, top[:, 0]]
        p2 = probabilities[rows, top[:, 1]] if top.shape[1] > 1 else np.zeros(n)
        s1 = scores[rows, top[:, 0]]
        s2 = scores[rows, top[:, 1]] if top.shape[1] > 1 else s1
        top_mass = np.take_along_axis(probabilities, top, axis=1).sum(axis=1)
        entropy = -(probabilities * np.log(probabilities + EPS)).sum(axis=1) / np.log(max(2, probabilities.shape[1]))
        columns = [p1, p2, np.log(p1 + EPS) - np.log(p2 + EPS), top_mass, entropy, s1, s1 - s2]
        for groups in self.ancestor_index:
            group = np.asarray(groups)
            valid = np.nonzero(group >= 0)[0]
            membership = sp.csr_matrix((np.ones(len(valid)), (valid, group[valid])),
                                       shape=(len(group), group.max() + 1))
            sums = np.asarray(probabilities @ membership)
            top_group = group[top[:, 0]]
            columns.append(np.where(top_group >= 0, sums[rows, np.maximum(top_group, 0)], p1))
        tokens = [t.split() for t in texts]
        columns.append(np.log1p([len(t) for t in tokens]))
        if self.vocabulary is not None:
            vocab = self.vocabulary
            known = vocab.__contains__
            columns.append(np.array([sum(map(known, t)) / len(t) if t else 0.0 for t in tokens], dtype=np.float64))
        if extra is not None:
            columns.extend(extra.T)
        return np.column_stack(columns)

    def confidence(
        self, scores: np.ndarray, probabilities: np.ndarray, top: np.ndarray, texts: list[str],
        extra: np.ndarray | None = None,
    ) -> np.ndarray:
        """Calibrated P(top code is right) per record."""
        return self.apply(self.signals(scores, probabilities, top, texts, extra))

    def apply(self, signals: np.ndarray) -> np.ndarray:
        if self.weights.size == 0:  # fitted on one outcome only: the top probability is the estimate
            return signals[:, 0]
        x = (signals - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))

    def fit(self, signals: np.ndarray, correct: np.ndarray) -> ConfidenceModel:
        """Fit on held-out records (signals from `signals`, correct = top code was right)."""
        self.mean = signals.mean(axis=0)
        self.scale = np.where(signals.std(axis=0) > 0, signals.std(axis=0), 1.0)
        if correct.all() or not correct.any():  # one class only: fall back to the top probability
            self.weights = np.zeros(0)
            return self
        model = LogisticRegression(C=REGULARISATION, max_iter=3000)
        model.fit((signals - self.mean) / self.scale, correct.astype(int))
        self.weights = model.coef_[0].astype(np.float64)
        self.bias = float(model.intercept_[0])
        return self

    def out_of_fold_confidence(self, signals: np.ndarray, correct: np.ndarray, seed: int,
                               folds: int = 5, repeats: int = 10) -> np.ndarray:
        """Each record's confidence from models that did not see it, averaged over repeated
        k-fold splits (a steadier basis for the threshold than one split)."""
        minority = int(min(correct.sum(), (~correct).sum()))
        if minority < folds:
            return self.fit(signals, correct).apply(signals)
        total = np.zeros(len(correct))
        for repeat in range(repeats):
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
            for fit_rows, held_rows in splitter.split(signals, correct):
                fold = ConfidenceModel(self.ancestor_levels, self.ancestor_index, self.vocabulary)
                total[held_rows] += fold.fit(signals[fit_rows], correct[fit_rows]).apply(signals[held_rows])
        return total / repeats

    def to_dict(self) -> dict[str, Any]:
        return {
            "ancestor_levels": self.ancestor_levels, "ancestor_index": self.ancestor_index,
            "mean": self.mean.tolist(), "scale": self.scale.tolist(), "weights": self.weights.tolist(),
            "bias": self.bias, "uses_vocabulary": self.vocabulary is not None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], vocabulary: dict[str, int] | None) -> ConfidenceModel:
        return cls(data["ancestor_levels"], data["ancestor_index"],
                   vocabulary if data.get("uses_vocabulary") else None,
                   np.asarray(data["mean"]), np.asarray(data["scale"]), np.asarray(data["weights"]),
                   float(data["bias"]))
