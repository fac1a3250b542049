"""Task "coding" as the lifecycle sees it: the coder behind the task interface (statops.tasks)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from statops.coding.chart import coverage_chart
from statops.coding.metrics import Evaluation
from statops.coding.model import OUTPUT_COLUMNS, CodingModel
from statops.coding.persist import load_model, save_model
from statops.coding.report import render_report
from statops.coding.train import evaluate_model, train_coder
from statops.errors import InvalidInput
from statops.tasks import FitRequest, FitResult, ModelDescription, ProgressCallback, TaskEvaluation, TaskModel

SIGNALS = ("volume", "auto_coded_share", "mean_confidence", "confidence_shift", "code_distribution_shift",
           "text_length_shift", "out_of_vocabulary_rate", "text_drift", "estimated_accuracy", "realised_accuracy")


def _coder(model: TaskModel) -> CodingModel:
    if not isinstance(model, CodingModel):
        raise InvalidInput(f"task coding was given a model of task {getattr(model, 'task', '?')}")
    return model


class CodingTask:
    """Free text -> the codes of a statistical classification, with a calibrated confidence."""

    name = "coding"
    output_columns = OUTPUT_COLUMNS

    def fit(self, request: FitRequest, progress: ProgressCallback | None = None) -> FitResult:
        return train_coder(request, progress)

    def evaluate(self, model: TaskModel, texts: pd.Series, labels: pd.Series) -> TaskEvaluation:
        return evaluate_model(_coder(model), texts, labels)

    def write_evaluation(self, evaluation: TaskEvaluation, folder: Path, stem: str, heading: str,
                         facts: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
        assert isinstance(evaluation, Evaluation)
        files = {
            f"{stem}_report.html": "all of it on one page, with the chart",
            f"{stem}_per_code.csv": "each code: precision, recall, F1, auto-coding",
            f"{stem}_worst_codes.csv": f"the {len(evaluation.worst_codes)} lowest-F1 codes with "
                                       f"{evaluation.worst_codes_min_support}+ records",
            f"{stem}_confusions.csv": f"the {len(evaluation.confusions)} most frequent confusions",
            f"{stem}_coverage.png": "the coverage-accuracy chart",
        }
        coverage_chart(evaluation, folder / f"{stem}_coverage.png", heading)
        for name, frame in evaluation.tables().items():
            frame.to_csv(folder / f"{stem}_{name}.csv", index=False)
        (folder / f"{stem}_report.html").write_text(render_report(evaluation, heading, facts), encoding="utf-8")
        return files

    def save(self, model: TaskModel, folder: Path) -> Path:
        return save_model(_coder(model), folder)

    def load(self, folder: Path) -> TaskModel:
        return load_model(folder)

    def describe(self, model: TaskModel) -> ModelDescription:
        coder = _coder(model)
        meta = coder.metadata
        params = {
            "seed": meta.get("seed"), "regularisation": meta.get("regularisation"),
            "target_accuracy": coder.target_accuracy, "temperature": round(coder.temperature, 6),
            "threshold": coder.threshold, "classes": len(coder.classes),
            "features": "tfidf char_wb 2-5 + word 1-2", "classifier": "LinearSVC per level, blended",
            "level_blend": json.dumps(meta.get("level_blend", {})),
        }
        tags = {"threshold": f"{coder.threshold:.6f}", "target_accuracy": str(coder.target_accuracy)}
        card = {
            "method": "TF-IDF character (2-5) and word (1-2) n-grams; a linear classifier for the codes and "
                      "for each level above them, blended; temperature-scaled probabilities; a logistic "
                      "confidence model of 'the top code is right'.",
            "decision": f"records with confidence at or above {coder.threshold:.4f} are coded automatically, "
                        f"chosen out-of-fold so that they reach {coder.target_accuracy:.0%} accuracy; "
                        "the rest go to review.",
            "codes": f"{len(coder.classes)} codes on levels {', '.join(coder.hierarchy.levels)}.",
        }
        return ModelDescription(params, tags, card, SIGNALS)
