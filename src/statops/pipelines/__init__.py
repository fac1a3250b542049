"""Retraining: the champion's training data plus new labelled data -> a challenger -> compared with the
champion on the same data, with its cost factors -> registered and put up for approval (docs/retraining.md)."""

from statops.pipelines.combine import CombinedData, LabelConflict, combine
from statops.pipelines.compare import BreakRisk, McNemar, break_risk, mcnemar
from statops.pipelines.retrain import RetrainOutcome, retrain
from statops.pipelines.schedule import retrain_scheduler, scheduled_retrain

__all__ = [
    "BreakRisk", "CombinedData", "LabelConflict", "McNemar", "RetrainOutcome", "break_risk", "combine", "mcnemar",
    "retrain", "retrain_scheduler", "scheduled_retrain",
]
