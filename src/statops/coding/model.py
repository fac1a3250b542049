"""The auto-coder: text features, a linear classifier, calibrated probabilities, a threshold."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import log_softmax, softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from statops.classifications.hierarchy import Hierarchy
from statops.coding.calibration import ConfidenceModel
from statops.coding.embedding import Encoder
from statops.coding.neighbours import Neighbourhood, NeighbourModel
from statops.coding.ranking import top_k
from statops.coding.text import normalise
from statops.errors import InvalidInput

TOP_K = 5
OUTPUT_COLUMNS = ("code", "title", "confidence", "decision", "alternatives")


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
    log_linear = log_softmax(linear / np.float32(pooling["linear_temperature"]), axis=1)
    log_votes = np.log(hood.probabilities + np.float32(pooling["neighbour_floor"]))
    return (log_linear + np.float32(pooling["neighbour_weight"]) * log_votes).astype(np.float32)


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

    def __repr__(self) -> str:
        return f"CodingModel({len(self.classes)} codes, threshold {self.threshold:.4f})"

    # -- probabilities -------------------------------------------------------------------------
    def class_scores(self, texts: list[str], embedded: np.ndarray | None = None) -> np.ndarray:
        """Raw linear scores (records x classes) for normalised texts, in float32 for speed. A model
        whose linear classifier also reads the texts' embeddings (`embedded`, the encoder's rows) has
        their weights in the rows of `weights` after the TF-IDF features'."""
        x = self.features.transform(texts)
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
        decision 'review', no alternatives."""
        predictions, index, empty = self._distinct(texts)
        return self._table(predictions, empty).iloc[index].reset_index(drop=True)

    def _table(self, p: Predictions, empty: np.ndarray) -> pd.DataFrame:
        titles = self.hierarchy.titles
        alternatives = [
            "[]" if blank else
            json.dumps([{"code": str(c), "probability": round(float(q), 6)} for c, q in zip(codes, probs, strict=True)])
            for codes, probs, blank in zip(p.top_codes, p.top_probs, empty, strict=True)
        ]
        codes = np.where(empty, "", p.codes.astype(str))
        return pd.DataFrame({
            "code": pd.array(codes, dtype="string"),
            "title": pd.array([titles.get(str(c), "") for c in codes], dtype="string"),
            "confidence": p.confidence.astype(np.float64),
            "decision": np.where((p.confidence >= self.threshold) & ~empty, "auto", "review"),
            "alternatives": alternatives,
        })

