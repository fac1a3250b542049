"""The reference profile: what a model's answers and inputs looked like on held-out data when it was
trained, which every monitoring window is compared with.

Saved with each version as files of its MLflow training run (`monitoring/`): `reference.json` plus
numpy arrays (`.npy`, read without pickle)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from statops.classifications import Hierarchy
from statops.errors import InvalidInput
from statops.monitoring.text_features import out_of_vocabulary, vocabulary
from statops.tasks import TaskModel, get_task

FOLDER = "monitoring"
PROFILE_FILE = "reference.json"
ARRAYS = ("confidence", "text_length", "oov")
MAX_VALUES = 50_000  # confidences and lengths kept (a random sample beyond)
MAX_TEXTS = 5_000  # reference texts kept for the text-drift classifier
FORMAT = 1


@dataclass
class ReferenceProfile:
    """A model version's answers and inputs on reference data. `in_sample` marks a profile made from the
    model's own training records (no dev dataset): its confidences are optimistic."""

    source: str
    records: int
    built_at: str
    threshold: float
    target_accuracy: float | None
    auto_coded_share: float
    code_counts: dict[str, int]
    levels: list[str]
    ancestors: dict[str, dict[str, str]]  # code -> level -> ancestor (empty: levels are code prefixes)
    from_prefixes: bool
    vocabulary: list[str]
    texts: list[str]
    accuracy: dict[str, float] = field(default_factory=dict)  # per level, where reference labels exist
    in_sample: bool = False
    notes: list[str] = field(default_factory=list)
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    text_length: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    oov: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))  # per text; NaN: no word
    signals: list[str] = field(default_factory=list)  # the task's signals (statops.tasks); empty: every one

    @property
    def has_texts(self) -> bool:
        return bool(self.texts)

    def ancestor_map(self, codes: list[str], level: str) -> list[str]:
        """Each code's ancestor at `level` ('unknown' for a code the classification does not have)."""
        if self.from_prefixes:
            depth = self.levels.index(level) + 1
            return [c[:depth] if len(c) >= depth else "unknown" for c in codes]
        return [self.ancestors.get(c, {}).get(level, "unknown") for c in codes]

    def level_counts(self, level: str) -> dict[str, int]:
        codes = list(self.code_counts)
        counts: dict[str, int] = {}
        for code, parent in zip(codes, self.ancestor_map(codes, level), strict=True):
            counts[parent] = counts.get(parent, 0) + self.code_counts[code]
        return counts

    def summary(self) -> dict[str, Any]:
        """The headline figures (JSON-ready)."""
        return {
            "source": self.source, "records": self.records, "built_at": self.built_at,
            "in_sample": self.in_sample, "threshold": self.threshold, "target_accuracy": self.target_accuracy,
            "auto_coded_share": self.auto_coded_share,
            "mean_confidence": float(self.confidence.mean()) if len(self.confidence) else None,
            "mean_text_length": float(self.text_length.mean()) if len(self.text_length) else None,
            "codes": len(self.code_counts), "levels": self.levels, "vocabulary": len(self.vocabulary),
            "texts": len(self.texts), "accuracy": self.accuracy, "notes": self.notes,
        }

    # -- files -------------------------------------------------------------------------------------
    def write(self, folder: Path) -> Path:
        """reference.json and the arrays as .npy into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in asdict(self).items() if k not in ARRAYS}
        (folder / PROFILE_FILE).write_text(json.dumps({"format": FORMAT, **data}, ensure_ascii=False),
                                           encoding="utf-8")
        for name in ARRAYS:
            np.save(folder / f"{name}.npy", getattr(self, name), allow_pickle=False)
        return folder

    @classmethod
    def read(cls, folder: Path) -> ReferenceProfile:
        """A profile written by `write` (arrays read without pickle)."""
        try:
            data = json.loads((folder / PROFILE_FILE).read_text(encoding="utf-8"))
            arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in ARRAYS}
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"the monitoring reference in {folder} cannot be read: {exc}") from exc
        data.pop("format", None)
        return cls(**data, **arrays)


def _sample(values: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    return values if len(values) <= limit else values[rng.choice(len(values), limit, replace=False)]


def _ancestors(hierarchy: Hierarchy) -> dict[str, dict[str, str]]:
    if hierarchy.from_prefixes or hierarchy.is_flat:
        return {}
    return {code: hierarchy.ancestors(code) for code in hierarchy.codes}


def _levels(hierarchy: Hierarchy, codes: list[str]) -> list[str]:
    if hierarchy.is_flat:
        return []  # the answers are the only level: nothing above them to compare
    if not hierarchy.from_prefixes:
        return list(hierarchy.levels)
    longest = max((len(c) for c in codes), default=0)
    return [f"prefix{n}" for n in range(1, longest + 1)]


def _accuracy(profile: ReferenceProfile, predicted: list[str], labels: pd.Series | None) -> dict[str, float]:
    if labels is None or not len(labels):
        return {}
    truth = labels.astype(str).str.strip().tolist()
    accuracy = {"code": float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))}
    for level in profile.levels:
        a, b = profile.ancestor_map(predicted, level), profile.ancestor_map(truth, level)
        accuracy[level] = float(np.mean([x == y and x != "unknown" for x, y in zip(a, b, strict=True)]))
    return accuracy


def build_reference(model: TaskModel, texts: pd.Series, hierarchy: Hierarchy, source: str, *,
                    vocabulary_texts: pd.Series | None = None, labels: pd.Series | None = None,
                    target_accuracy: float | None = None, in_sample: bool = False,
                    notes: list[str] | None = None, seed: int = 0) -> ReferenceProfile:
    """A profile of `model`'s answers on `texts` (held-out records). The vocabulary comes from
    `vocabulary_texts` (the training texts) when given; else from half of `texts`, and the reference
    out-of-vocabulary rate from the other half, so that it is not zero by construction. The signals kept
    are those that fit the model's task."""
    texts = texts.fillna("").astype(str).reset_index(drop=True)
    if texts.empty:
        raise InvalidInput("a monitoring reference needs at least one record")
    rng = np.random.default_rng(seed)
    answers = model.predict_frame(texts)
    codes = answers["code"].astype(str).tolist()
    notes = list(notes or [])
    if vocabulary_texts is not None:
        words = vocabulary(vocabulary_texts.fillna("").astype(str))
        oov = out_of_vocabulary(texts, set(words))
    else:
        half = rng.permutation(len(texts)) < len(texts) // 2
        words = vocabulary(texts[half])
        oov = np.full(len(texts), np.nan)
        oov[~half] = out_of_vocabulary(texts[~half], set(words))
        oov[half] = out_of_vocabulary(texts[half], set(vocabulary(texts[~half])))
        notes.append("vocabulary from half of the reference records (the training texts were not at hand)")
    text_sample = texts[texts.str.strip() != ""]
    kept = rng.choice(len(text_sample), min(MAX_TEXTS, len(text_sample)), replace=False)
    profile = ReferenceProfile(
        source=source, records=len(texts), built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        threshold=float(model.threshold), target_accuracy=target_accuracy,
        auto_coded_share=float((answers["decision"] == "auto").mean()),
        code_counts={str(k): int(v) for k, v in pd.Series(codes).value_counts().items()},
        levels=_levels(hierarchy, codes), ancestors=_ancestors(hierarchy), from_prefixes=hierarchy.from_prefixes,
        vocabulary=words, texts=text_sample.iloc[np.sort(kept)].tolist(), in_sample=in_sample, notes=notes,
        confidence=_sample(answers["confidence"].to_numpy(dtype=np.float32), MAX_VALUES, rng),
        text_length=_sample(texts.str.len().to_numpy(dtype=np.int32), MAX_VALUES, rng),
        oov=_sample(oov.astype(np.float32), MAX_VALUES, rng),
        signals=list(get_task(model.task).describe(model).signals),
    )
    profile.accuracy = _accuracy(profile, codes, labels)
    return profile
