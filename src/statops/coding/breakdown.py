"""Where a coder goes wrong: quality per hierarchy level, per code, the most frequent confusions
and the worst-coded codes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from statops.classifications.hierarchy import Hierarchy

TOP_CONFUSIONS = 20
WORST_CODES = 20
# A code needs this many records before its F1 says more about the model than about chance.
WORST_MIN_SUPPORT = 10


@dataclass(frozen=True)
class LevelQuality:
    """Accuracy at one level of the hierarchy, over the records whose true code has a code there."""

    level: str
    codes: int  # distinct true codes at this level
    records: int
    accuracy: float
    auto_coded_accuracy: float | None  # of the auto-coded records, at this level


@dataclass(frozen=True)
class CodeQuality:
    """One code's quality. Support, recall and the auto-coded figures count records whose true code
    is this code; precision counts records coded as it."""

    code: str
    title: str
    support: int  # records whose true code is this
    predicted: int  # records the model coded as this
    correct: int
    precision: float | None  # None: never predicted
    recall: float | None  # None: never the true code
    f1: float
    auto_coded: int  # of the support, how many were auto-coded
    auto_coded_share: float | None
    auto_coded_accuracy: float | None  # of those auto-coded, the share coded right
    confused_with: str | None  # the wrong code most often given to this code's records
    confused_with_title: str


@dataclass(frozen=True)
class Confusion:
    """A (true code, predicted code) pair the model got wrong, and how often."""

    true_code: str
    true_title: str
    predicted_code: str
    predicted_title: str
    count: int
    share_of_true: float  # count / support of the true code


def level_quality(truth: list[str], predicted: list[str], auto: np.ndarray, hierarchy: Hierarchy) -> list[LevelQuality]:
    """Accuracy, and accuracy of auto-coded records, at every level of `hierarchy`."""
    out = []
    for level in hierarchy.levels:
        true_at = hierarchy.at_level(truth, level)
        pred_at = hierarchy.at_level(predicted, level)
        has = np.array([t is not None for t in true_at], dtype=bool)
        if not has.any():
            continue
        right = np.array([t == p for t, p in zip(true_at, pred_at, strict=True)], dtype=bool)
        auto_here = has & auto
        out.append(LevelQuality(
            level=level,
            codes=len({t for t in true_at if t is not None}),
            records=int(has.sum()),
            accuracy=float(right[has].mean()),
            auto_coded_accuracy=float(right[auto_here].mean()) if auto_here.any() else None,
        ))
    return out


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def code_quality(truth: list[str], predicted: list[str], auto: np.ndarray,
                 title: Callable[[str], str]) -> list[CodeQuality]:
    """Per code seen as a true or a predicted code: counts, precision, recall, F1 and auto-coding.

    Ordered by support (most frequent first), then code.
    """
    frame = pd.DataFrame({"true": pd.Series(truth, dtype=object).astype(str),
                          "pred": pd.Series(predicted, dtype=object).astype(str),
                          "auto": np.asarray(auto, dtype=bool)})
    frame["correct"] = frame["true"] == frame["pred"]
    support = frame["true"].value_counts()
    predicted_n = frame["pred"].value_counts()
    correct_n = frame.loc[frame["correct"], "true"].value_counts()
    auto_n = frame.loc[frame["auto"], "true"].value_counts()
    auto_correct_n = frame.loc[frame["auto"] & frame["correct"], "true"].value_counts()
    wrong = frame.loc[~frame["correct"]]
    pairs = wrong.groupby(["true", "pred"]).size().reset_index(name="n")
    pairs = pairs.sort_values(["true", "n", "pred"], ascending=[True, False, True])
    confused_with = dict(pairs.drop_duplicates("true")[["true", "pred"]].itertuples(index=False, name=None))

    codes = sorted(set(support.index) | set(predicted_n.index), key=lambda c: (-int(support.get(c, 0)), c))
    out = []
    for code in codes:
        s, p, c = int(support.get(code, 0)), int(predicted_n.get(code, 0)), int(correct_n.get(code, 0))
        a, ac = int(auto_n.get(code, 0)), int(auto_correct_n.get(code, 0))
        other = confused_with.get(code)
        out.append(CodeQuality(
            code=code, title=title(code), support=s, predicted=p, correct=c,
            precision=_ratio(c, p), recall=_ratio(c, s), f1=2 * c / (s + p),
            auto_coded=a, auto_coded_share=_ratio(a, s), auto_coded_accuracy=_ratio(ac, a),
            confused_with=other, confused_with_title=title(other) if other else "",
        ))
    return out


def top_confusions(truth: list[str], predicted: list[str], title: Callable[[str], str],
                   limit: int = TOP_CONFUSIONS) -> list[Confusion]:
    """The `limit` most frequent wrong (true, predicted) pairs; ties by code."""
    frame = pd.DataFrame({"true": pd.Series(truth, dtype=object).astype(str),
                          "pred": pd.Series(predicted, dtype=object).astype(str)})
    support = frame["true"].value_counts()
    wrong = frame.loc[frame["true"] != frame["pred"]]
    pairs = wrong.groupby(["true", "pred"]).size().reset_index(name="n")
    pairs = pairs.sort_values(["n", "true", "pred"], ascending=[False, True, True]).head(limit)
    return [
        Confusion(t, title(t), p, title(p), int(n), int(n) / int(support[t]))
        for t, p, n in pairs.itertuples(index=False, name=None)
    ]


def worst_codes(per_code: list[CodeQuality], min_support: int = WORST_MIN_SUPPORT,
                limit: int = WORST_CODES) -> list[CodeQuality]:
    """The `limit` codes with the lowest F1 among those with at least `min_support` records."""
    eligible = [c for c in per_code if c.support >= min_support]
    return sorted(eligible, key=lambda c: (c.f1, -c.support, c.code))[:limit]


def records_frame(rows: list[Any], record_type: type) -> pd.DataFrame:
    """A list of these dataclass records as a table, with its columns even when it is empty."""
    return pd.DataFrame([asdict(r) for r in rows], columns=[f.name for f in fields(record_type)])
