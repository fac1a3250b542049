"""Task "coding" as the lifecycle sees it: the coder behind the task interface (statops.tasks)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from statops.coding.breakdown import WORST_MIN_SUPPORT
from statops.coding.chart import coverage_chart
from statops.coding.metrics import Evaluation
from statops.coding.model import OUTPUT_COLUMNS, CodingModel
from statops.coding.persist import load_model, save_model
from statops.coding.report import render_report
from statops.coding.train import evaluate_model, train_coder
from statops.errors import InvalidInput
from statops.tasks import (
    FitRequest,
    FitResult,
    ModelDescription,
    ProgressCallback,
    TaskEvaluation,
    TaskModel,
    held_out_share,
    reading_params,
)

LITTLE_TRAINING = 10  # a code with fewer training records than this is learnt from too few examples
LOW_F1 = 0.5
LISTED = 20  # codes named in a limitation; the dev evaluation's per-code table has them all
SIGNALS = ("volume", "auto_coded_share", "mean_confidence", "confidence_shift", "code_distribution_shift",
           "text_length_shift", "out_of_vocabulary_rate", "text_drift", "estimated_accuracy", "realised_accuracy",
           "audit_accuracy")


def _text(value: Any) -> str:
    """Free text safe inside Markdown (a title with | or * stays text)."""
    marked = re.sub(r"([\\`*\[\]<>|~#])", r"\\\1", " ".join(str(value).split()))
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", marked)  # snake_case stays as it is


def _share(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1%}"


def _levels_table(levels: Sequence[Mapping[str, Any]]) -> str:
    rows = ["| level | codes | records | accuracy | auto-coded accuracy |", "|---|---:|---:|---:|---:|"]
    rows += [f"| {_text(r['level'])} | {r['codes']:,} | {r['records']:,} | {_share(r['accuracy'])} | "
             f"{_share(r.get('auto_coded_accuracy'))} |" for r in levels]
    return "\n".join(rows)


def _limitations(evaluation: Mapping[str, Any], training_labels: Mapping[str, int]) -> str:
    """Codes learnt from few records, codes coded badly on the dev data, codes the dev data hardly tests."""
    out = []
    rare = sorted((n, code) for code, n in training_labels.items() if n < LITTLE_TRAINING)
    if rare:
        named = ", ".join(f"{_text(code)} ({n})" for n, code in rare[:LISTED])
        more = f" and {len(rare) - LISTED} more" if len(rare) > LISTED else ""
        out.append(f"- **Little training data**: {len(rare):,} of {len(training_labels):,} codes have fewer than "
                   f"{LITTLE_TRAINING} training records: {named}{more}.")
    per_code = list(evaluation.get("per_code", []))
    low = sorted((r for r in per_code if r["support"] >= WORST_MIN_SUPPORT and r["f1"] < LOW_F1),
                 key=lambda r: (r["f1"], r["code"]))
    if low:
        named = "; ".join(f"{_text(r['code'])} {_text(r['title'])} (F1 {r['f1']:.2f}, {r['support']} records)"
                          for r in low[:LISTED])
        more = f"; and {len(low) - LISTED} more" if len(low) > LISTED else ""
        out.append(f"- **Low accuracy**: {len(low):,} codes with at least {WORST_MIN_SUPPORT} dev records have F1 "
                   f"below {LOW_F1}: {named}{more}.")
    elif per_code:
        out.append(f"- No code with at least {WORST_MIN_SUPPORT} dev records has F1 below {LOW_F1}.")
    thin = sum(1 for r in per_code if 0 < r["support"] < WORST_MIN_SUPPORT)
    if thin:
        out.append(f"- **Hardly tested**: {thin:,} codes have fewer than {WORST_MIN_SUPPORT} dev records, so their "
                   "quality is not known well.")
    out.append("- Quality was measured on the dev data, with the threshold chosen out-of-fold; answers to texts "
               "unlike the training data (new occupations, other wording, another language) may be worse.")
    return "\n".join(out)


def _coder(model: TaskModel) -> CodingModel:
    if not isinstance(model, CodingModel):
        raise InvalidInput(f"task coding was given a model of task {getattr(model, 'task', '?')}")
    return model


class CodingTask:
    """Free text -> the codes of a statistical classification, with a calibrated confidence."""

    name = "coding"
    output_columns = OUTPUT_COLUMNS
    needs_reference = False
    decided_auto = "auto-coded"

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
            "profile": coder.profile,
        }
        if "refit_on_dev" in meta:
            params["refit_on_dev"] = meta["refit_on_dev"]
        if coder.encoder is not None and coder.neighbours is not None:
            params.update({"encoder": json.dumps(coder.encoder.describe()),
                           "neighbours": json.dumps(coder.neighbours.settings()),
                           "pooling": json.dumps(coder.pooling)})
        tags = {"threshold": f"{coder.threshold:.6f}", "target_accuracy": str(coder.target_accuracy),
                "profile": coder.profile}
        card = {
            "method": "TF-IDF character (2-5) and word (1-2) n-grams; a linear classifier for the codes and "
                      "for each level above them, blended; temperature-scaled probabilities; a logistic "
                      "confidence model of 'the top code is right'.",
            "decision": f"records with confidence at or above {coder.threshold:.4f} are coded automatically, "
                        f"chosen out-of-fold so that they reach {coder.target_accuracy:.0%} accuracy; "
                        "the rest go to review.",
            "codes": f"{len(coder.classes)} codes on levels {', '.join(coder.hierarchy.levels)}.",
        }
        if coder.encoder is not None and coder.neighbours is not None:
            encoder = coder.encoder.describe()
            what = ("a static embedding distilled from the MiniLM sentence encoder" if encoder["kind"] == "static"
                    else "the MiniLM sentence encoder")
            card["method"] += (f" Profile '{coder.profile}': {what} ({encoder.get('version', '')}) embeds each text; "
                               "the linear classifiers read the embedding beside the TF-IDF features; "
                               f"a {coder.neighbours.k}-nearest-neighbour vote over the training records' "
                               "embeddings is pooled with the linear classifier in log space, and its "
                               "agreement and similarities feed the confidence model. The classification's "
                               "titles are extra training text.")
        return ModelDescription(params, tags, card, SIGNALS)

    def card_sections(self, model_card: Mapping[str, str], evaluation: Mapping[str, Any],
                      training_labels: Mapping[str, int]) -> dict[str, str]:
        sections = {
            "Intended use": "Auto-coding: each record gets a code of the classification with a calibrated "
                            "confidence; records at or above the threshold are coded automatically, the rest "
                            "go to clerical coders for review.",
            "How it works": "\n\n".join(_text(model_card[k][:1].upper() + model_card[k][1:])
                                          for k in ("method", "decision", "codes") if model_card.get(k)),
        }
        if evaluation.get("levels"):
            sections["Accuracy by level (dev data)"] = _levels_table(evaluation["levels"])
        sections["Limitations"] = _limitations(evaluation, training_labels)
        return {heading: body for heading, body in sections.items() if body}

    def options_from_params(self, params: Mapping[str, str]) -> dict[str, Any]:
        with reading_params():
            options: dict[str, Any] = {"seed": int(params["seed"]), "regularisation": float(params["regularisation"]),
                                       "target_accuracy": float(params["target_accuracy"])}
            if params.get("profile", "standard") != "standard":
                options["profile"] = str(params["profile"])
            if "refit_on_dev" in params:
                options["refit_on_dev"] = True
            share = float(params["dev_share"]) if "dev_share" in params else held_out_share(params)
            if share is not None:
                options["dev_share"] = share
        return options
