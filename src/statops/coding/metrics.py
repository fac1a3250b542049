"""Quality measures for statistical coding: accuracy per hierarchy level, calibration, coverage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from statops.classifications.hierarchy import Hierarchy
from statops.coding.breakdown import (
    WORST_MIN_SUPPORT,
    CodeQuality,
    Confusion,
    LevelQuality,
    code_quality,
    level_quality,
    records_frame,
    top_confusions,
    worst_codes,
)

ECE_BINS = 15
CURVE_POINTS = 101


@dataclass(frozen=True)
class CoverageCurve:
    """Accuracy of the records auto-coded when the most confident `coverage` share is auto-coded."""

    coverage: list[float]
    accuracy: list[float]
    threshold: list[float]

    def as_dict(self) -> dict[str, list[float]]:
        return {"coverage": self.coverage, "accuracy": self.accuracy, "threshold": self.threshold}


def coverage_curve(confidence: np.ndarray, correct: np.ndarray, points: int = CURVE_POINTS) -> CoverageCurve:
    """The coverage-accuracy curve sampled at `points` evenly spaced coverages."""
    order = np.argsort(-confidence, kind="stable")
    cumulative = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    coverages, accuracies, thresholds = [], [], []
    for share in np.linspace(0, 1, points)[1:]:
        k = max(1, int(round(share * len(order))))
        coverages.append(float(k / len(order)))
        accuracies.append(float(cumulative[k - 1]))
        thresholds.append(float(confidence[order][k - 1]))
    return CoverageCurve(coverages, accuracies, thresholds)


def threshold_for_accuracy(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest confidence threshold whose auto-coded records (confidence >= it) reach `target`.

    Records with equal confidence are taken or left together. When no threshold reaches the
    target, returns a value above every confidence (nothing is auto-coded).
    """
    if len(confidence) == 0:
        return 1.0 + 1e-9
    values, inverse = np.unique(-confidence, return_inverse=True)  # descending confidence groups
    hits = np.bincount(inverse, weights=correct.astype(float), minlength=len(values))
    counts = np.bincount(inverse, minlength=len(values))
    accuracy = np.cumsum(hits) / np.cumsum(counts)
    reaching = np.nonzero(accuracy >= target)[0]
    if len(reaching) == 0:
        return float(np.nextafter(np.max(confidence), np.inf))
    return float(-values[reaching[-1]])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    if len(confidence) == 0:
        return 0.0
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)


@dataclass
class Evaluation:
    """Every quality measure of one model on one labelled dataset."""

    records: int
    accuracy: float
    level_accuracy: dict[str, float]
    top5_accuracy: float
    macro_f1: float
    ece: float
    target_accuracy: float
    threshold: float
    auto_coded_share: float
    auto_coded_accuracy: float | None
    curve: CoverageCurve
    levels: list[LevelQuality] = field(default_factory=list)
    per_code: list[CodeQuality] = field(default_factory=list)
    confusions: list[Confusion] = field(default_factory=list)
    worst_codes: list[CodeQuality] = field(default_factory=list)
    worst_codes_min_support: int = WORST_MIN_SUPPORT

    def metrics(self) -> dict[str, float]:
        """Flat name -> value, as logged to MLflow."""
        out = {f"accuracy_{level}": v for level, v in self.level_accuracy.items()}
        out.update(
            accuracy=self.accuracy, top5_accuracy=self.top5_accuracy, macro_f1=self.macro_f1,
            ece=self.ece, auto_coded_share=self.auto_coded_share, threshold=self.threshold,
            target_accuracy=self.target_accuracy,
        )
        if self.auto_coded_accuracy is not None:
            out["auto_coded_accuracy"] = self.auto_coded_accuracy
        return out

    def summary(self) -> dict[str, Any]:
        """The overall figures, the per-level table, the worst codes and the top confusions
        (everything but the curve and the full per-code table)."""
        return {
            "records": self.records, "level_accuracy": self.level_accuracy, "accuracy": self.accuracy,
            "top5_accuracy": self.top5_accuracy, "macro_f1": self.macro_f1, "ece": self.ece,
            "target_accuracy": self.target_accuracy, "threshold": self.threshold,
            "auto_coded_share": self.auto_coded_share, "auto_coded_accuracy": self.auto_coded_accuracy,
            "levels": [asdict(r) for r in self.levels],
            "worst_codes_min_support": self.worst_codes_min_support,
            "worst_codes": [asdict(r) for r in self.worst_codes],
            "confusions": [asdict(r) for r in self.confusions],
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything, as stored in the evaluation's JSON file."""
        return {**self.summary(), "curve": self.curve.as_dict(), "per_code": [asdict(r) for r in self.per_code]}

    def tables(self) -> dict[str, pd.DataFrame]:
        """The per-code table, the top confusions and the worst-coded codes, by file stem."""
        return {
            "per_code": records_frame(self.per_code, CodeQuality),
            "confusions": records_frame(self.confusions, Confusion),
            "worst_codes": records_frame(self.worst_codes, CodeQuality),
        }


def evaluate_predictions(
    truth: list[str],
    predicted: list[str],
    confidence: np.ndarray,
    top_codes: list[list[str]],
    hierarchy: Hierarchy,
    threshold: float,
    target_accuracy: float,
) -> Evaluation:
    """Measure predictions against true codes."""
    truth = [str(t) for t in truth]
    predicted = [str(p) for p in predicted]
    truth_arr = np.asarray(truth, dtype=object)
    pred_arr = np.asarray(predicted, dtype=object)
    correct = truth_arr == pred_arr
    auto = np.asarray(confidence >= threshold, dtype=bool)
    levels = level_quality(truth, predicted, auto, hierarchy)
    per_code = code_quality(truth, predicted, auto, hierarchy.title)
    top5 = float(np.mean([t in set(codes[:5]) for t, codes in zip(truth, top_codes, strict=True)]))
    return Evaluation(
        records=len(truth),
        accuracy=float(correct.mean()),
        level_accuracy={row.level: row.accuracy for row in levels},
        top5_accuracy=top5,
        macro_f1=float(f1_score(truth_arr.astype(str), pred_arr.astype(str), average="macro", zero_division=0)),
        ece=expected_calibration_error(confidence, correct),
        target_accuracy=target_accuracy,
        threshold=threshold,
        auto_coded_share=float(auto.mean()),
        auto_coded_accuracy=float(correct[auto].mean()) if auto.any() else None,
        curve=coverage_curve(confidence, correct),
        levels=levels,
        per_code=per_code,
        confusions=top_confusions(truth, predicted, hierarchy.title),
        worst_codes=worst_codes(per_code),
    )
