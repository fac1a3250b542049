"""Multivariate text drift: how well a classifier tells window texts from reference texts.

A naive Bayes classifier on hashed character n-grams (as sensitive here as logistic regression and
ten times faster) is trained to separate a bounded sample of reference
texts from an equal-sized sample of window texts; its ROC AUC, cross-validated, is the signal. About
0.5 means the two are indistinguishable; 1.0 means every window text can be told apart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from statops.monitoring.statistics import auc_p_value
from statops.monitoring.text_features import drift_features

FOLDS = 5


@dataclass(frozen=True)
class TextDrift:
    auc: float
    p_value: float
    reference_texts: int
    window_texts: int


def text_drift(reference: list[str], window: list[str], sample: int, seed: int = 0) -> TextDrift:
    """Cross-validated ROC AUC of a classifier separating `reference` from `window` texts, on at most
    `sample` texts of each (the same number of each, drawn at random)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.naive_bayes import MultinomialNB

    rng = np.random.default_rng(seed)
    size = min(sample, len(reference), len(window))
    ref = [reference[i] for i in rng.choice(len(reference), size, replace=False)]
    win = [window[i] for i in rng.choice(len(window), size, replace=False)]
    features = drift_features(ref + win)
    target = np.r_[np.zeros(size), np.ones(size)]
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    log_odds = cross_val_predict(MultinomialNB(alpha=1.0), features, target, cv=folds, method="predict_log_proba")
    scores = log_odds[:, 1] - log_odds[:, 0]
    auc = float(roc_auc_score(target, scores))
    return TextDrift(auc, auc_p_value(auc, size, size), size, size)
