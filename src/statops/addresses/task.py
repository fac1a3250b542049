"""Task "addresses" as the lifecycle sees it: the address matcher behind the task interface (statops.tasks)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from statops.addresses.evaluation import AddressEvaluation
from statops.addresses.model import OUTPUT_COLUMNS, AddressModel
from statops.addresses.persist import load_model, save_model
from statops.addresses.report import render_report
from statops.addresses.train import evaluate_matcher, fit_matcher
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

SIGNALS = ("volume", "auto_coded_share", "mean_confidence", "confidence_shift", "text_length_shift",
           "out_of_vocabulary_rate", "text_drift", "estimated_accuracy", "realised_accuracy", "audit_accuracy")
"""What monitoring watches for a matcher: all but the distribution of the answers, as a matched address's id
carries none worth comparing (words new to the model, a new estate's streets, do show)."""
OPTIONS = {"target_accuracy": "target_precision", "seed": "seed", "dev_share": "dev_share", "top_k": "top_k"}
"""The lifecycle's option names -> the matcher's (an accepted match is right with the target accuracy)."""


def _matcher(model: TaskModel) -> AddressModel:
    if not isinstance(model, AddressModel):
        raise InvalidInput(f"task addresses was given a model of task {getattr(model, 'task', '?')}")
    return model


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InvalidInput(f"task addresses has no option {', '.join(unknown)}; its options: "
                           f"{', '.join(sorted(OPTIONS))}")
    return {OPTIONS[k]: v for k, v in options.items()}


class AddressTask:
    """Free-text addresses -> the id of the matching address in a reference base, with a calibrated confidence."""

    name = "addresses"
    output_columns = OUTPUT_COLUMNS
    needs_reference = True
    decided_auto = "matches accepted"

    def fit(self, request: FitRequest, progress: ProgressCallback | None = None) -> FitResult:
        options = _options(request.options)
        if request.reference is None:
            raise InvalidInput("task addresses is trained with a reference base: label the records with its ids "
                               "(`statops data add ... --reference BASE`)")
        reference = request.reference.drop(columns=[c for c in ("address",) if c in request.reference.columns])
        train_ids = request.train_labels.fillna("").astype(str)
        dev_ids = request.dev_labels.fillna("").astype(str) if request.dev_labels is not None else None
        started = time.perf_counter()
        model, evaluation = fit_matcher(reference, request.train_texts, train_ids, request.dev_texts, dev_ids,
                                        options, progress)
        dev_records = evaluation.records
        train_records = len(train_ids) - (0 if dev_ids is not None else dev_records)
        return FitResult(model, evaluation, time.perf_counter() - started, train_records, dev_records)

    def evaluate(self, model: TaskModel, texts: pd.Series, labels: pd.Series) -> TaskEvaluation:
        return evaluate_matcher(_matcher(model), texts, labels.fillna("").astype(str))

    def write_evaluation(self, evaluation: TaskEvaluation, folder: Path, stem: str, heading: str,
                         facts: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
        assert isinstance(evaluation, AddressEvaluation)
        (folder / f"{stem}_report.html").write_text(render_report(evaluation, heading, facts), encoding="utf-8")
        return {f"{stem}_report.html": "all of it on one page, with the parser's quality per field"}

    def save(self, model: TaskModel, folder: Path) -> Path:
        return save_model(_matcher(model), folder)

    def load(self, folder: Path) -> TaskModel:
        return load_model(folder)

    def describe(self, model: TaskModel) -> ModelDescription:
        matcher = _matcher(model)
        settings = matcher.describe()
        params: dict[str, Any] = {
            "target_accuracy": matcher.target_precision, "threshold": matcher.threshold,
            "reference_rows": matcher.reference_size,
            # timings are not settings: a reproduction compares params, and its clock differs
            **{k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in settings.items()
               if not k.endswith("_seconds")},
        }
        tags = {"threshold": f"{matcher.threshold:.6f}", "target_accuracy": str(matcher.target_precision)}
        card = {
            "method": "Each address is normalised (case, accents, punctuation, abbreviations, number ranges and "
                      "suffixes) and parsed into its fields by a conditional random field trained on the "
                      "reference base; candidates come from BM25 full-text search and from nearest neighbours "
                      "of character n-gram embeddings, fused; a learned re-ranker compares them field by field, "
                      "with strict rules for numbers, suffixes and flats.",
            "decision": f"a match with confidence at or above {matcher.threshold:.4f} is accepted, chosen on dev "
                        f"data (out of fold) so that accepted matches are right {matcher.target_precision:.1%} of "
                        "the time and, with 95% confidence, at most 1% of addresses that are not in the base are "
                        "accepted; the rest go to review.",
            "codes": f"{matcher.reference_size:,} reference addresses.",
        }
        return ModelDescription(params, tags, card, SIGNALS)

    def card_sections(self, model_card: Mapping[str, str], evaluation: Mapping[str, Any],
                      training_labels: Mapping[str, int]) -> dict[str, str]:
        figures = [(label, evaluation.get(key)) for label, key in (
            ("top-1 accuracy", "top1_accuracy"), ("matches accepted (of addresses in the base)", "accepted_share"),
            ("accepted matches right", "accepted_precision"),
            ("addresses not in the base that were accepted", "out_of_reference_accepted_share"))]
        rows = ["| measure | dev data |", "|---|---:|"] + [
            f"| {label} | {value:.1%} |" for label, value in figures if isinstance(value, int | float)]
        outside = training_labels.get("", 0)
        trained = ([f"- Trained on {sum(training_labels.values()):,} labelled addresses, {outside:,} of them not in "
                    "the reference base."] if training_labels else [])
        sections = {
            "Intended use": "Address matching: each free-text address is linked to the id of its address in the "
                            "reference base, with a calibrated confidence; matches at or above the threshold are "
                            "accepted, the rest go to clerical review.",
            "How it works": "\n\n".join(model_card[k] for k in ("method", "decision", "codes") if model_card.get(k)),
            "Quality (dev data)": "\n".join(rows) if len(rows) > 2 else "",
            "Limitations": "\n".join([
                *trained,
                "- The reference base is fixed with the model version: addresses added to the base later are "
                "never matched until a version is trained on the new base.",
                "- Quality was measured on the dev data; addresses written unlike it (another country's "
                "conventions, another script) are sent to review, not matched with confidence.",
            ]),
        }
        return {heading: body for heading, body in sections.items() if body}

    def options_from_params(self, params: Mapping[str, str]) -> dict[str, Any]:
        with reading_params():
            options: dict[str, Any] = {"seed": int(params["seed"]),
                                       "target_accuracy": float(params["target_accuracy"])}
            if "top_k" in params:
                options["top_k"] = int(params["top_k"])
            share = held_out_share(params)
            if share is not None:
                options["dev_share"] = share
        return options

