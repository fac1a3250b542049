"""Confidence: P(the top candidate is the address meant), from the re-ranker's top score, its gap to
the second and the top candidate's strict checks, by a logistic model fitted on held-out queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import beta
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from statops.addresses.matching import Ranked
from statops.addresses.rerank import FEATURES

EPS = 1e-6
REGULARISATION = 1.0
# The top candidate's checks that say most about whether it is right (rerank.FEATURES by name).
TOP_CHECKS = ("suffix_conflicts", "candidate_numbers_missing", "query_numbers_unexplained", "postcode_disagrees",
              "query_postcode", "query_postcode_known", "postcode_equal", "token_set", "sub_number_found",
              "sub_number_missing", "query_known_words_unexplained", "building_number_found",
              "building_number_parsed_equal", "street_ratio", "street_in_query", "place_ratio", "town_in_query",
              "name_in_query", "candidate_words_found", "query_words_found", "query_has_flat", "candidate_has_flat",
              "building_size", "building_with_flats", "similarity", "sub_conflict", "name_conflict")
_CHECK_INDEX = [FEATURES.index(name) for name in TOP_CHECKS]
MAX_OUT_OF_REFERENCE_ACCEPTED = 0.01  # the bound on not-in-reference queries accepted
CONFIDENCE_LEVEL = 0.95  # dev holds a few hundred such queries: the bound must hold beyond them
SIGNALS = ("top_logit", "second_logit", "logit_gap", "score_gap", "top_share", *TOP_CHECKS)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def signals(ranked: list[Ranked]) -> np.ndarray:
    """One row of SIGNALS per query."""
    top = np.array([r.scores[0] if len(r.scores) else 0.0 for r in ranked], dtype=float)
    second = np.array([r.scores[1] if len(r.scores) > 1 else 0.0 for r in ranked], dtype=float)
    total = np.array([r.scores.sum() for r in ranked], dtype=float)
    share = np.divide(top, total, out=np.zeros_like(top), where=total > 0)  # the top one's part of all the evidence
    checks = np.array([r.top_features[_CHECK_INDEX] for r in ranked], dtype=float).reshape(len(ranked), -1)
    return np.column_stack([_logit(top), _logit(second), _logit(top) - _logit(second), top - second, share, checks])


@dataclass
class ConfidenceModel:
    """Logistic regression on standardised signals, kept as plain coefficients (saved as JSON)."""

    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bias: float = 0.0

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Calibrated P(top candidate right) per row of signals."""
        if len(x) == 0:
            return np.zeros(0)
        if self.weights.size == 0:  # fitted on one outcome only: the re-ranker's own top score
            return 1.0 / (1.0 + np.exp(-x[:, 0]))
        z = ((x - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def fit(self, x: np.ndarray, correct: np.ndarray) -> ConfidenceModel:
        """Fit on held-out queries (correct: the top candidate was the true address)."""
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.scale = np.where(std > 0, std, 1.0)
        if correct.all() or not correct.any():
            self.weights = np.zeros(0)
            return self
        model = LogisticRegression(C=REGULARISATION, max_iter=5000)
        model.fit((x - self.mean) / self.scale, correct.astype(int))
        self.weights = model.coef_[0].astype(np.float64)
        self.bias = float(model.intercept_[0])
        return self

    def out_of_fold(self, x: np.ndarray, correct: np.ndarray, seed: int, folds: int = 5,
                    repeats: int = 5) -> np.ndarray:
        """Each query's confidence from models that did not see it, averaged over repeated k-fold
        splits: the basis for choosing the threshold."""
        if int(min(correct.sum(), (~correct).sum())) < folds:
            return ConfidenceModel().fit(x, correct).apply(x)
        total = np.zeros(len(correct))
        for repeat in range(repeats):
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
            for fit_rows, held_rows in splitter.split(x, correct):
                total[held_rows] += ConfidenceModel().fit(x[fit_rows], correct[fit_rows]).apply(x[held_rows])
        return total / repeats

    def to_dict(self) -> dict[str, Any]:
        return {"signals": list(SIGNALS), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "bias": self.bias}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfidenceModel:
        return cls(np.asarray(data["mean"], dtype=float), np.asarray(data["scale"], dtype=float),
                   np.asarray(data["weights"], dtype=float), float(data["bias"]))


def allowed_out_of_reference(count: int, share: float, level: float = CONFIDENCE_LEVEL) -> int:
    """The most not-in-reference acceptances among `count` such queries that still keep the
    accepted share at or under `share` with confidence `level` (one-sided Clopper-Pearson bound):
    a dev set of 500 allows 1, one of 100 allows none."""
    allowed = 0
    while allowed < count and beta.ppf(level, allowed + 2, count - allowed - 1) <= share:
        allowed += 1
    return allowed


def threshold_for_out_of_reference(confidence: np.ndarray, out_of_reference: np.ndarray,
                                   share: float = MAX_OUT_OF_REFERENCE_ACCEPTED) -> float:
    """The lowest threshold at which the not-in-reference queries accepted stay at or under `share`
    with 95% confidence (0 when there are none to judge by)."""
    outside = np.sort(confidence[out_of_reference])[::-1]
    if len(outside) == 0:
        return 0.0
    allowed = allowed_out_of_reference(len(outside), share)
    return float(np.nextafter(outside[allowed], np.inf)) if allowed < len(outside) else 0.0
