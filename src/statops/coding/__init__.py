"""Task "coding": auto-coding free text into the codes of a statistical classification."""

from statops.coding.metrics import Evaluation
from statops.coding.model import CodingModel, Predictions
from statops.coding.persist import load_model, save_model
from statops.coding.train import TrainingOptions, TrainingResult, evaluate_model, train_coder

__all__ = [
    "CodingModel", "Evaluation", "Predictions", "TrainingOptions", "TrainingResult",
    "evaluate_model", "load_model", "save_model", "train_coder",
]
