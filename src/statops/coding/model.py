"""The auto-coder: text features, a linear classifier, calibrated probabilities, a threshold."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from statops.classifications.hierarchy import Hierarchy
from statops.coding.calibration import ConfidenceModel
from statops.coding.embedding import Encoder
from statops.coding.neighbours import Neighbourhood, NeighbourModel
from statops.coding.ranking import top_k
from statops.coding.text import normalise
from statops.coding.tokens import TokenFeatures, supported
from statops.errors import InvalidInput

TOP_K = 5
OUTPUT_COLUMNS = ("code", "title", "confidence", "decision", "alternatives")
# Answers kept per model, by normalised text: a text seen in an earlier batch (a file's next chunk,
# the next request) is not scored again. Bounded: past this many texts the memory is cleared.
ANSWER_CACHE = 200_000


def build_features() -> FeatureUnion:
    """Character n-grams inside word boundaries plus word uni- and bigrams, TF-IDF weighted."""
    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                  dtype=np.float32)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                  token_pattern=r"(?u)\b\w+\b", dtype=np.float32)),
    ])


def with_embeddings(x: sp.spmatrix, embedded: np.ndarray) -> sp.csr_matrix:
    """The TF-IDF features with the texts' unit-length embeddings as more columns: the linear
    classifier sees both (each TF-IDF block and the embedding have unit length, so neither drowns
    the other)."""
    return sp.hstack([x, sp.csr_matrix(embedded)], format="csr", dtype=np.float32)


def word_vocabulary(features: FeatureUnion) -> dict[str, int]:
    """The fitted word vectoriser's vocabulary (term -> column), looked up by name, not position."""
    return dict(features.named_transformers["words"].vocabulary_)


def pool_scores(linear: np.ndarray, hood: Neighbourhood, pooling: dict[str, float]) -> np.ndarray:
    """log softmax(linear / T) + w * log(vote + floor): pooling in log space (a product of the two
    distributions) lets either model veto a code the other likes, which averaging does not."""
    log_linear = _log_softmax(linear / np.float32(pooling["linear_temperature"]))
    log_votes = np.log(hood.probabilities + np.float32(pooling["neighbour_floor"]))
    return (log_linear + np.float32(pooling["neighbour_weight"]) * log_votes).astype(np.float32)


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise log softmax in the scores' own precision (scipy's works in float64 and is several
    times slower on a batch of float32 scores)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@dataclass
class Predictions:
    """Per record: the chosen code, its calibrated confidence and the top-k codes with probabilities."""

    codes: np.ndarray
    confidence: np.ndarray
    top_codes: np.ndarray
    top_probs: np.ndarray

    def take(self, index: np.ndarray) -> Predictions:
        return Predictions(self.codes[index], self.confidence[index], self.top_codes[index],
                           self.top_probs[index])


@dataclass(repr=False)
class CodingModel:
    """A trained auto-coder: a model of task "coding" (statops.tasks.TaskModel). `predict_frame`
    is what `statops score`, the HTTP API and the pyfunc model return."""

    task: ClassVar[str] = "coding"

    features: FeatureUnion
    weights: np.ndarray  # (n_features, n_classes), float32
    bias: np.ndarray  # (n_classes,)
    classes: np.ndarray  # codes, as text
    temperature: float
    confidence_model: ConfidenceModel
    threshold: float
    target_accuracy: float
    hierarchy: Hierarchy
    metadata: dict[str, Any]
    # Profiles with embeddings (statops.coding.profiles): the encoder, the neighbour model and how its
    # log-probabilities are pooled with the linear classifier's. None: the TF-IDF coder alone.
    encoder: Encoder | None = None
    neighbours: NeighbourModel | None = None
    pooling: dict[str, float] = field(default_factory=dict)
    profile: str = "standard"

    def __post_init__(self) -> None:
        # The TF-IDF transform from per-word caches (statops.coding.tokens), equal to the union's own.
        self._tokens = TokenFeatures(self.features) if supported(self.features) else None
        self._answers: dict[str, tuple[str, str, float, str]] = {}

    def __repr__(self) -> str:
        return f"CodingModel({len(self.classes)} codes, threshold {self.threshold:.4f})"

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """The TF-IDF features of normalised texts."""
        return self._tokens.transform(texts) if self._tokens is not None else self.features.transform(texts)

    def forget_answers(self) -> None:
        """Drop the answers kept from earlier batches (timing a cold model, or after a change)."""
        self._answers.clear()

    # -- probabilities -------------------------------------------------------------------------
    def class_scores(self, texts: list[str], embedded: np.ndarray | None = None) -> np.ndarray:
        """Raw linear scores (records x classes) for normalised texts, in float32 for speed. A model
        whose linear classifier also reads the texts' embeddings (`embedded`, the encoder's rows) has
        their weights in the rows of `weights` after the TF-IDF features'."""
        x = self.transform(texts)
        scores = x @ self.weights[:x.shape[1]] + self.bias
        if self.weights.shape[0] > x.shape[1]:
            if embedded is None:
                raise InvalidInput("this model's linear classifier reads the texts' embeddings: pass them")
            scores += embedded @ self.weights[x.shape[1]:]
        return np.asarray(scores, dtype=np.float32)

    def pooled_scores(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores whose temperature-scaled softmax is the model's probabilities, and the neighbour
        signals for the confidence model (None without neighbours). With neighbours the score is
        the linear classifier's log-probability plus a weighted log of the neighbours' vote."""
        if self.neighbours is None or self.encoder is None:
            return self.class_scores(texts), None
        embedded = self.encoder.encode(texts)
        hood = self.neighbours.neighbourhood(embedded)
        scores = pool_scores(self.class_scores(texts, embedded), hood, self.pooling)
        top = np.argmax(scores, axis=1)
        return scores, hood.signals(top, self.neighbours.labels)

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Temperature-scaled softmax of raw scores."""
        return softmax(scores / np.float32(self.temperature), axis=1)

    def predict_normalised(self, texts: list[str]) -> Predictions:
        if not texts:  # an empty batch: an empty table, not an error from the vectoriser
            k = min(TOP_K, len(self.classes))
            return Predictions(np.empty(0, dtype=object), np.empty(0), np.empty((0, k), dtype=object),
                               np.empty((0, k)))
        scores, extra = self.pooled_scores(texts)
        probabilities = self.probabilities(scores)
        top = top_k(probabilities, TOP_K)
        top_probs = np.take_along_axis(probabilities, top, axis=1)
        confidence = self.confidence_model.confidence(scores, probabilities, top, texts, extra).astype(np.float64)
        # The top code's probability is the calibrated confidence; the rest share what remains.
        rest = top_probs[:, 1:]
        rest_total = 1.0 - top_probs[:, :1]
        scale = np.divide(1.0 - confidence[:, None], rest_total, out=np.zeros_like(rest_total),
                          where=rest_total > 0)
        top_probs = np.concatenate([confidence[:, None], rest * scale], axis=1)
        return Predictions(self.classes[top[:, 0]], confidence, self.classes[top], top_probs)

    def _distinct(self, texts: pd.Series | list[str]) -> tuple[Predictions, np.ndarray, np.ndarray]:
        """Predictions for each distinct normalised text, each input's index into them, and which
        distinct texts are empty (nothing left after normalisation: no code can be given).

        Survey answers repeat; each distinct text is normalised and scored once.
        """
        raw_codes, raw_unique = pd.factorize(pd.Series(texts, dtype=object).fillna(""), use_na_sentinel=False)
        normalised_codes, unique = pd.factorize(pd.Series(normalise(raw_unique), dtype=object))
        unique = np.asarray(unique, dtype=object)
        predictions = self.predict_normalised(list(unique))
        empty = unique == ""
        predictions.confidence[empty] = 0.0  # nothing to code from: always a human's call
        return predictions, normalised_codes[raw_codes], empty

    def predict(self, texts: pd.Series | list[str]) -> Predictions:
        """Predict raw texts; repeated texts in the batch are computed once."""
        predictions, index, _ = self._distinct(texts)
        return predictions.take(index)

    # -- the scoring table ---------------------------------------------------------------------
    def predict_frame(self, texts: pd.Series | list[str]) -> pd.DataFrame:
        """code, title, confidence, decision (auto/review) and alternatives (top-5 JSON) per text,
        one row per text in order. An empty text gets no code: code and title empty, confidence 0,
        decision 'review', no alternatives.

        Each distinct text is scored once, and a text answered in an earlier call (a file's earlier
        chunk, an earlier request) is not scored again: its answer is kept, up to ANSWER_CACHE texts.
        """
        raw_codes, raw_unique = pd.factorize(pd.Series(texts, dtype=object).fillna(""), use_na_sentinel=False)
        normalised = normalise(raw_unique)
        answers = self._answers
        # this call's own copy of what it needs: a server's other threads may clear the kept answers meanwhile
        found = {t: answers.get(t) for t in normalised}
        missing = [t for t, row in found.items() if row is None]
        if missing:
            predictions = self.predict_normalised(missing)
            empty = np.array([t == "" for t in missing], dtype=bool)
            predictions.confidence[empty] = 0.0  # nothing to code from: always a human's call
            fresh = dict(zip(missing, self._rows(predictions, empty), strict=True))
            found.update(fresh)
            if len(missing) <= ANSWER_CACHE:  # too many to keep: this batch is answered from its own
                if len(answers) + len(missing) > ANSWER_CACHE:
                    answers.clear()
                answers.update(fresh)
        rows = [found[t] for t in normalised]
        code, title, confidence, alternatives = (list(c) for c in zip(*rows, strict=True)) if rows \
            else ([], [], [], [])
        confidences = np.asarray(confidence, dtype=np.float64)
        decision = np.where((confidences >= self.threshold) & (np.asarray(code, dtype=object) != ""), "auto", "review")
        table = pd.DataFrame({
            "code": pd.array(code, dtype="string"),
            "title": pd.array(title, dtype="string"),
            "confidence": confidences,
            "decision": decision.astype(object),
            "alternatives": np.asarray(alternatives, dtype=object),
        })
        return table.iloc[raw_codes].reset_index(drop=True) if len(table) != len(raw_codes) or \
            not np.array_equal(raw_codes, np.arange(len(raw_codes))) else table

    def _rows(self, p: Predictions, empty: np.ndarray) -> list[tuple[str, str, float, str]]:
        """(code, title, confidence, alternatives JSON) per record (the decision follows from the
        confidence and the threshold, so a kept answer never goes stale). The JSON is written as
        `json.dumps` writes it (codes JSON-quoted once per class, probabilities as rounded floats),
        without building a dict per alternative."""
        quoted = self._quoted_codes()
        titles = self.hierarchy.titles
        rows = []
        for code, confidence, top, probabilities, blank in zip(
                p.codes.tolist(), p.confidence.tolist(), p.top_codes.tolist(), p.top_probs.tolist(), empty.tolist(),
                strict=True):
            if blank:
                rows.append(("", "", confidence, "[]"))
                continue
            alternatives = "[" + ", ".join(
                f'{{"code": {quoted[c]}, "probability": {round(q, 6)!r}}}'
                for c, q in zip(top, probabilities, strict=True)) + "]"
            rows.append((str(code), titles.get(str(code), ""), confidence, alternatives))
        return rows

    def _quoted_codes(self) -> dict[Any, str]:
        """Each class as JSON (quoted and escaped as json.dumps does), once per model."""
        quoted = getattr(self, "_quoted", None)
        if quoted is None or len(quoted) != len(self.classes):
            quoted = self._quoted = {c: json.dumps(str(c)) for c in self.classes}
        return quoted
