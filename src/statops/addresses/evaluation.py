"""Quality of an address matcher on labelled queries: top-1, recall at k, accepted share and
precision at the threshold, not-in-reference queries accepted, calibration, the parser per label."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from statops.coding.metrics import coverage_curve, expected_calibration_error


@dataclass
class AddressEvaluation:
    """Every measure of one matcher on one labelled set. In-reference measures are over the queries
    whose true id is in the reference; a not-in-reference query accepted counts as a wrong match."""

    records: int
    in_reference: int
    top1_accuracy: float
    recall_at_k: float
    candidate_recall: float
    k: int
    accepted_share: float  # of in-reference queries
    accepted_precision: float | None  # of every accepted query
    out_of_reference_accepted_share: float
    accepted_share_all: float
    ece: float
    threshold: float
    target_precision: float
    curve: dict[str, list[float]] = field(default_factory=dict)
    parser: dict[str, dict[str, float]] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Flat name -> value (logged as MLflow metrics)."""
        out = {
            "records": float(self.records), "in_reference": float(self.in_reference),
            "top1_accuracy": self.top1_accuracy, "recall_at_k": self.recall_at_k,
            "candidate_recall": self.candidate_recall, "accepted_share": self.accepted_share,
            "out_of_reference_accepted_share": self.out_of_reference_accepted_share,
            "accepted_share_all": self.accepted_share_all, "ece": self.ece, "threshold": self.threshold,
            "target_precision": self.target_precision,
        }
        if self.accepted_precision is not None:
            out["accepted_precision"] = self.accepted_precision
        for label, values in self.parser.items():
            out[f"parser_f1_{label}"] = values["f1"]
        # the measures every task reports under the same names (statops.tasks.COMMON_METRICS)
        out.update(accuracy=self.top1_accuracy, auto_coded_share=self.accepted_share_all,
                   target_accuracy=self.target_precision)
        if self.accepted_precision is not None:
            out["auto_coded_accuracy"] = self.accepted_precision
        return out

    def summary(self) -> dict[str, Any]:
        """The headline figures, JSON-ready."""
        return {
            "records": self.records, "in_reference": self.in_reference, "top1_accuracy": self.top1_accuracy,
            f"recall_at_{self.k}": self.recall_at_k, "candidate_recall": self.candidate_recall,
            "accepted_share": self.accepted_share, "accepted_precision": self.accepted_precision,
            "out_of_reference_accepted_share": self.out_of_reference_accepted_share,
            "ece": self.ece, "threshold": self.threshold, "target_precision": self.target_precision,
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (the coverage curve and the parser per label included)."""
        return {**self.summary(), "k": self.k, "accepted_share_all": self.accepted_share_all,
                "curve": self.curve, "parser": self.parser}


def evaluate_matches(truth: list[str], top_ids: list[list[str]], candidate_ids: list[set[str]],
                     confidence: np.ndarray, threshold: float, target_precision: float, k: int,
                     parser: dict[str, dict[str, float]] | None = None) -> AddressEvaluation:
    """Measure ranked matches (top_ids: each query's top-k ids) against the true ids ("" = not in
    the reference)."""
    truth_arr = np.asarray(truth, dtype=object)
    inside = truth_arr != ""
    top1 = np.array([ids[0] if ids else "" for ids in top_ids], dtype=object)
    correct = inside & (top1 == truth_arr)
    accepted = np.asarray(confidence >= threshold, dtype=bool) & (top1 != "")
    n_inside = int(inside.sum())
    return AddressEvaluation(
        records=len(truth), in_reference=n_inside,
        top1_accuracy=float(correct[inside].mean()) if n_inside else 0.0,
        recall_at_k=float(np.mean([t in ids[:k] for t, ids, i in zip(truth, top_ids, inside, strict=True) if i]))
        if n_inside else 0.0,
        candidate_recall=float(np.mean([t in c for t, c, i in zip(truth, candidate_ids, inside, strict=True) if i]))
        if n_inside else 0.0,
        k=k,
        accepted_share=float(accepted[inside].mean()) if n_inside else 0.0,
        accepted_precision=float(correct[accepted].mean()) if accepted.any() else None,
        out_of_reference_accepted_share=float(accepted[~inside].mean()) if (~inside).any() else 0.0,
        accepted_share_all=float(accepted.mean()) if len(truth) else 0.0,
        ece=expected_calibration_error(confidence, correct),
        threshold=threshold, target_precision=target_precision,
        curve=coverage_curve(confidence, correct).as_dict() if len(truth) else {},
        parser=parser or {},
    )
