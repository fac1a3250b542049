"""Training an auto-coder: features, linear classifier, calibration and threshold on dev data."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from statops.coding.calibration import ConfidenceModel, fit_temperature
from statops.coding.linear import fit_hierarchical
from statops.coding.metrics import Evaluation, evaluate_predictions, threshold_for_accuracy
from statops.coding.model import TOP_K, CodingModel, build_features, with_embeddings, word_vocabulary
from statops.coding.profiles import (
    check_profile,
    embed_distinct,
    fit_pooling,
    graph_settings,
    make_encoder,
    title_texts,
)
from statops.coding.ranking import top_k
from statops.coding.text import normalise
from statops.errors import InvalidInput
from statops.tasks import FitRequest, FitResult, ProgressCallback

MIN_TRAIN_RECORDS = 2


@dataclass(frozen=True)
class TrainingOptions:
    target_accuracy: float = 0.95
    seed: int = 0
    regularisation: float = 1.0  # LinearSVC's C
    dev_share: float = 0.15  # held out for calibration when no dev data is given
    profile: str = "standard"  # statops.coding.profiles: standard, accurate or fast
    # Cross-fitting: once everything is chosen on dev, fit the classifiers again on train + dev.
    refit_on_dev: bool = False

    def check(self) -> None:
        check_profile(self.profile)
        if not 0.0 < self.target_accuracy <= 1.0:
            raise InvalidInput(f"target accuracy must be in (0, 1], got {self.target_accuracy}")
        if self.regularisation <= 0:
            raise InvalidInput("regularisation must be positive")


def training_options(options: Mapping[str, Any]) -> TrainingOptions:
    """The coder's options from a name -> value mapping; an unknown name is an InvalidInput."""
    known = {f.name for f in fields(TrainingOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidInput(f"task coding has no option {', '.join(unknown)}; its options: {', '.join(sorted(known))}")
    return TrainingOptions(**options)


def _noop(stage: str, fraction: float) -> None:
    return None


def split_for_calibration(
    texts: list[str], labels: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of row indices: (train rows, held-out rows)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    held = max(1, int(round(share * len(texts))))
    return np.sort(order[held:]), np.sort(order[:held])


def train_coder(request: FitRequest, progress: ProgressCallback | None = None) -> FitResult:
    """Fit a CodingModel; calibrate it and choose its threshold on dev data (or a held-out split).
    `request.options` are TrainingOptions' fields by name."""
    options, hierarchy = training_options(request.options), request.hierarchy
    options.check()
    report = progress or _noop
    started = time.perf_counter()
    texts = normalise(request.train_texts)
    train_labels = request.train_labels
    if train_labels.isna().any() or (train_labels.astype(str).str.strip() == "").any():
        raise InvalidInput("every training record needs a code: some labels are empty")
    labels = np.asarray(train_labels.astype(str), dtype=object)
    if request.dev_texts is None or request.dev_labels is None:
        fit_rows, held_rows = split_for_calibration(texts, labels, options.dev_share, options.seed)
        dev = [texts[i] for i in held_rows]
        dev_y = labels[held_rows]
        texts = [texts[i] for i in fit_rows]
        labels = labels[fit_rows]
    else:
        dev = normalise(request.dev_texts)
        dev_y = np.asarray(request.dev_labels.astype(str), dtype=object)
    if len(texts) < MIN_TRAIN_RECORDS or len(set(labels)) < 2:
        raise InvalidInput("training needs at least two records and two different codes")

    records, embedded = len(texts), options.profile != "standard"
    if embedded:  # the classification's own titles as extra training text
        extra_texts, extra_labels = title_texts(hierarchy, set(labels))
        texts = texts + extra_texts
        labels = np.concatenate([labels, np.asarray(extra_labels, dtype=object)])

    report("features", 0.05)
    features = build_features()
    x_train = features.fit_transform(texts)
    x_dev = features.transform(dev)
    if embedded:  # the linear classifier reads the embeddings too
        report("embeddings", 0.1)
        encoder = make_encoder(options.profile, texts)
        train_embedded, dev_embedded = embed_distinct(encoder, texts), embed_distinct(encoder, dev)
        x_train, x_dev = with_embeddings(x_train, train_embedded), with_embeddings(x_dev, dev_embedded)
    report("classifiers", 0.15)
    linear, blend = fit_hierarchical(x_train, labels, hierarchy, options.regularisation, options.seed, x_dev, dev_y)
    classes = linear.classes

    class_index = {c: i for i, c in enumerate(classes)}
    dev_index = np.array([class_index.get(y, -1) for y in dev_y])
    dev_scores = linear.scores(x_dev)
    vocabulary = word_vocabulary(features)
    confidence_model = ConfidenceModel.for_classes(classes, hierarchy, vocabulary)
    metadata: dict[str, Any] = {"seed": options.seed, "regularisation": options.regularisation,
                                "level_blend": blend, "profile": options.profile}
    if options.refit_on_dev:
        metadata["refit_on_dev"] = 0  # records added by the refit (0: none could be)
    model = CodingModel(features, linear.weights, linear.bias, classes, 1.0, confidence_model, 1.0,
                        options.target_accuracy, hierarchy, metadata, profile=options.profile)
    extra = None
    if embedded:
        report("neighbours", 0.65)
        pooled = fit_pooling(train_embedded, np.array([class_index[y] for y in labels], dtype=np.int32), classes,
                             dev_embedded, dev_scores, dev_index, graph_settings(options.profile))
        model.encoder, model.neighbours, model.pooling = encoder, pooled.neighbours, pooled.pooling
        metadata.update(encoder=encoder.describe(), neighbours=pooled.neighbours.settings(), pooling=pooled.pooling,
                        title_records=len(extra_texts))
        dev_scores, extra, model.temperature = pooled.dev_scores, pooled.dev_signals, pooled.temperature
    else:
        model.temperature = fit_temperature(dev_scores, dev_index)
    report("calibration", 0.8)
    probabilities = model.probabilities(dev_scores)
    top = top_k(probabilities, TOP_K)
    correct = classes[top[:, 0]] == dev_y
    signals = confidence_model.signals(dev_scores, probabilities, top, dev, extra)
    held_out_confidence = confidence_model.out_of_fold_confidence(signals, correct, options.seed)
    confidence_model.fit(signals, correct)
    model.threshold = threshold_for_accuracy(held_out_confidence, correct, options.target_accuracy)
    evaluation = evaluate_predictions(
        list(dev_y), list(classes[top[:, 0]]), held_out_confidence, [list(classes[t]) for t in top],
        hierarchy, model.threshold, options.target_accuracy,
    )
    if options.refit_on_dev and request.dev_texts is not None:
        report("refit", 0.9)
        _refit_on_dev(model, x_train, labels, x_dev, dev_y, blend, options)
    report("done", 1.0)
    return FitResult(model, evaluation, time.perf_counter() - started, records, len(dev))


def _refit_on_dev(model: CodingModel, x_train: Any, labels: np.ndarray, x_dev: Any, dev_y: np.ndarray,
                  blend: dict[str, float], options: TrainingOptions) -> None:
    """Cross-fitting: with every setting chosen on dev (blend weights, neighbours and pooling,
    temperature, confidence model, threshold), fit the linear classifiers again on train and dev
    records together. Dev records of codes the training data lacks are left out, so the model keeps
    its classes. The neighbours stay the training records: the confidence model was fitted on their
    signals (more records would make every record's neighbours nearer, and its confidence too high).
    The dev quality reported is the one measured before, by classifiers that had not seen dev."""
    known = np.isin(dev_y, model.classes)
    if not known.any():
        return
    x_all = sp.vstack([x_train, x_dev[known]], format="csr")
    labels_all = np.concatenate([labels, dev_y[known]])
    linear, _ = fit_hierarchical(x_all, labels_all, model.hierarchy, options.regularisation, options.seed,
                                 None, None, blend=blend)
    if np.array_equal(linear.classes, model.classes):  # the same codes, as the dev records had only known ones
        model.weights, model.bias = linear.weights, linear.bias
        model.metadata["refit_on_dev"] = int(known.sum())


def evaluate_model(model: CodingModel, texts: pd.Series, labels: pd.Series) -> Evaluation:
    """Every quality measure of `model` on labelled records."""
    predictions = model.predict(texts)
    return evaluate_predictions(
        list(labels.astype(str)), list(predictions.codes), predictions.confidence,
        [list(c) for c in predictions.top_codes], model.hierarchy, model.threshold, model.target_accuracy,
    )
