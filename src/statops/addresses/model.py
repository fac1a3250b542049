"""The address matcher as a model of task "addresses": free text in, the matched reference id, its
address, a calibrated confidence, the decision and the runners-up out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from statops.addresses.confidence import ConfidenceModel, signals
from statops.addresses.fields import FIELDS
from statops.addresses.matching import Matcher, Ranked
from statops.addresses.normalise import normalise

OUTPUT_COLUMNS = ("code", "title", "confidence", "decision", "alternatives")
"""`title` is the matched reference address (every task's answer has its words in `title`)."""
TOP_K = 5


@dataclass
class Matches:
    """Per distinct query: the ranked candidates and the calibrated confidence of the top one."""

    ranked: list[Ranked]
    confidence: np.ndarray


@dataclass(repr=False)
class AddressModel:
    """A trained address matcher (statops.tasks.TaskModel)."""

    task: ClassVar[str] = "addresses"

    matcher: Matcher
    confidence_model: ConfidenceModel
    threshold: float
    target_precision: float
    top_k: int = TOP_K
    metadata: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"AddressModel({self.reference_size} addresses, threshold {self.threshold:.4f})"

    @property
    def reference_size(self) -> int:
        return len(self.matcher.gazetteer)

    # -- matching ------------------------------------------------------------------------------
    def match_normalised(self, normalised: list[str]) -> Matches:
        """Rank and score distinct normalised queries; an empty one gets no candidate and confidence 0."""
        ranked = self.matcher.rank(normalised)
        confidence = self.confidence_model.apply(signals(ranked)) if ranked else np.zeros(0)
        empty = np.array([not r.rows for r in ranked], dtype=bool)
        confidence = np.where(empty, 0.0, confidence).astype(np.float64)
        return Matches(ranked, confidence)

    def _distinct(self, texts: pd.Series | Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The distinct normalised texts and each input's index into them (repeats are matched once;
        normalising is cached, so a repeated raw text costs a lookup)."""
        values = texts.tolist() if isinstance(texts, pd.Series) else list(texts)
        position: dict[str, int] = {}
        index = [position.setdefault(normalise(v) if isinstance(v, str) else "", len(position)) for v in values]
        return list(position), np.asarray(index, dtype=np.intp)

    def predict_frame(self, texts: pd.Series | Sequence[str]) -> pd.DataFrame:
        """code (the matched id), title (its address), confidence, decision and alternatives (top-k JSON)
        per text, in order."""
        columns = self.predict_columns(texts)
        return pd.DataFrame({
            "code": pd.array(columns["code"], dtype="string"),
            "title": pd.array(columns["title"], dtype="string"),
            "confidence": np.asarray(columns["confidence"], dtype=np.float64),
            "decision": columns["decision"],
            "alternatives": columns["alternatives"],
        })

    def predict_columns(self, texts: pd.Series | Sequence[str]) -> dict[str, list[Any]]:
        """`predict_frame`'s table as one list per column, without building a DataFrame (which costs
        more than the rest of the answer for one record)."""
        unique, index = self._distinct(texts)
        columns = self._columns(self.match_normalised(unique))
        if len(index) == len(unique) and (index == np.arange(len(index))).all():
            return columns
        return {name: [values[i] for i in index] for name, values in columns.items()}

    def _columns(self, matches: Matches) -> dict[str, list[Any]]:
        g = self.matcher.gazetteer
        codes, addresses, confidences, decisions, alternatives = [], [], [], [], []
        for ranked, confidence in zip(matches.ranked, matches.confidence.tolist(), strict=True):
            top = ranked.rows[:self.top_k]
            code = str(g.ids[top[0]]) if top else ""
            codes.append(code)
            addresses.append(g.addresses[top[0]] if top else "")
            confidences.append(confidence)
            decisions.append("auto" if confidence >= self.threshold and code else "review")
            # the top one's confidence is the calibrated one; the others' share what is left in
            # proportion to their scores
            scores = ranked.scores[:len(top)].tolist()
            rest = sum(scores[1:])
            alternatives.append(json.dumps([
                {"code": str(g.ids[row]), "title": g.addresses[row],
                 "probability": round(confidence if i == 0 else (1.0 - confidence) * score / rest if rest > 0 else 0.0,
                                      6),
                 "score": round(score, 6)}
                for i, (row, score) in enumerate(zip(top, scores, strict=True))
            ]))
        return {"code": codes, "title": addresses, "confidence": confidences, "decision": decisions,
                "alternatives": alternatives}

    # -- the reference -------------------------------------------------------------------------
    @property
    def target_accuracy(self) -> float:
        """The lifecycle's name for the target precision: accepted matches are right this often."""
        return self.target_precision

    def address_of(self, ids: Sequence[str]) -> list[str]:
        """The reference address of each id ("" for an unknown id)."""
        g = self.matcher.gazetteer
        rows = [g.row_of.get(str(i)) for i in ids]
        return [g.addresses[r] if r is not None else "" for r in rows]

    def knows(self, id: str) -> bool:
        """True when the id is in the reference."""
        return str(id) in self.matcher.gazetteer.row_of

    def parse(self, texts: pd.Series | Sequence[str]) -> list[dict[str, str]]:
        """The parser's fields of each text (normalised words; "" where a field is absent)."""
        return [dict(self.matcher.parser.parse_normalised(normalise(t) if isinstance(t, str) else ""))
                for t in texts]

    def describe(self) -> dict[str, Any]:
        """Settings and provenance, JSON-ready."""
        return {
            "task": self.task, "reference_rows": self.reference_size,
            "reference_sha256": reference_sha256(self.matcher.gazetteer.reference),
            "threshold": self.threshold, "target_precision": self.target_precision, "top_k": self.top_k,
            "confidence_model": self.confidence_model.to_dict(), "components": component_versions(),
            **self.metadata,
        }


COMPONENTS = ("python-crfsuite", "tantivy", "usearch", "rapidfuzz", "scikit-learn", "numpy")


def component_versions() -> dict[str, str]:
    """The installed versions of the parts a model's answers depend on."""
    versions = {}
    for name in COMPONENTS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def reference_sha256(reference: pd.DataFrame) -> str:
    """A content hash of the reference's ids and fields, in order."""
    digest = hashlib.sha256()
    for column in ("id", *FIELDS):
        digest.update(column.encode())
        digest.update("\x1f".join(reference[column].astype(str)).encode("utf-8"))
    return digest.hexdigest()
