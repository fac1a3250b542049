"""Task "coding": auto-coding free text into the codes of a statistical classification."""

from statops.coding.breakdown import CodeQuality, Confusion, LevelQuality
from statops.coding.metrics import Evaluation
from statops.coding.model import CodingModel, Predictions
from statops.coding.persist import load_model, save_model
from statops.coding.report import check_report_path, render_report, save_report, write_report
from statops.coding.train import TrainingOptions, TrainingRequest, TrainingResult, evaluate_model, train_coder

__all__ = [
    "CodeQuality", "CodingModel", "Confusion", "Evaluation", "LevelQuality", "Predictions", "TrainingOptions",
    "TrainingRequest", "TrainingResult", "check_report_path", "evaluate_model", "load_model", "render_report",
    "save_model", "save_report", "train_coder", "write_report",
]
