"""Task "coding": auto-coding free text into the codes of a statistical classification."""

from statops.coding.breakdown import CodeQuality, Confusion, LevelQuality
from statops.coding.metrics import Evaluation
from statops.coding.model import CodingModel, Predictions
from statops.coding.persist import load_model, save_model
from statops.coding.report import render_report
from statops.coding.train import TrainingOptions, evaluate_model, train_coder, training_options

__all__ = [
    "CodeQuality", "CodingModel", "Confusion", "Evaluation", "LevelQuality", "Predictions", "TrainingOptions",
    "evaluate_model", "load_model", "render_report", "save_model", "train_coder", "training_options",
]
