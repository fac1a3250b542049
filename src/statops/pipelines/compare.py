"""Champion against challenger on the same records: quality at every level, the auto-coded share, codes
that got better or worse, McNemar's test on the paired answers, and how far published aggregates move."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest, chi2

from statops.classifications import Hierarchy

EXACT_BELOW = 25  # discordant pairs under which McNemar's test is the exact binomial test
LISTED_CODES = 15  # codes listed as better or worse
LISTED_MOVERS = 15  # aggregates listed as moving most


@dataclass(frozen=True)
class McNemar:
    """McNemar's test of two models' paired answers: b records only the champion got right, c only the
    challenger; exact (binomial, two-sided) for few discordant pairs, else chi-square with continuity
    correction."""

    champion_only: int
    challenger_only: int
    statistic: float | None
    p_value: float
    method: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar(champion_only: int, challenger_only: int) -> McNemar:
    """McNemar's test from the discordant counts b (only the champion right) and c (only the challenger)."""
    b, c = int(champion_only), int(challenger_only)
    n = b + c
    if n == 0:
        return McNemar(b, c, None, 1.0, "no discordant pairs")
    if n < EXACT_BELOW:
        return McNemar(b, c, None, float(binomtest(min(b, c), n, 0.5).pvalue), "exact binomial")
    statistic = (abs(b - c) - 1) ** 2 / n
    return McNemar(b, c, float(statistic), float(chi2.sf(statistic, 1)), "chi-square, continuity corrected")


@dataclass(frozen=True)
class Scores:
    """One model's quality on labelled records."""

    records: int
    accuracy: float  # exact code
    level_accuracy: dict[str, float]
    auto_coded_share: float
    auto_coded_accuracy: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def scores(truth: pd.Series, codes: pd.Series, decisions: pd.Series, hierarchy: Hierarchy) -> Scores:
    """Accuracy at every level (over records whose true code reaches that level) and the auto-coded share."""
    truth_list, code_list = truth.astype(str).tolist(), codes.astype(str).tolist()
    right = np.array([t == c for t, c in zip(truth_list, code_list, strict=True)], dtype=bool)
    auto = (decisions.astype(str) == "auto").to_numpy()
    levels = {}
    for level in hierarchy.levels:
        true_at, code_at = hierarchy.at_level(truth_list, level), hierarchy.at_level(code_list, level)
        has = [t is not None for t in true_at]
        if any(has):
            levels[level] = float(np.mean([t == c for t, c, h in zip(true_at, code_at, has, strict=True) if h]))
    return Scores(len(truth_list), float(right.mean()) if len(right) else 0.0, levels,
                  float(auto.mean()) if len(auto) else 0.0, float(right[auto].mean()) if auto.any() else None)


@dataclass(frozen=True)
class CodeChange:
    code: str
    title: str
    records: int
    champion_right: int
    challenger_right: int

    @property
    def change(self) -> int:
        return self.challenger_right - self.champion_right

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "change": self.change}


@dataclass(frozen=True)
class PairedComparison:
    """Both models on one labelled set."""

    name: str  # what the set is, e.g. 'held-out data soc-test@1'
    champion: Scores
    challenger: Scores
    test: McNemar
    better: list[CodeChange]
    worse: list[CodeChange]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "champion": self.champion.as_dict(), "challenger": self.challenger.as_dict(),
                "mcnemar": self.test.as_dict(), "better": [c.as_dict() for c in self.better],
                "worse": [c.as_dict() for c in self.worse]}


def paired(name: str, frame: pd.DataFrame, hierarchy: Hierarchy) -> PairedComparison:
    """`frame` has truth, champion_code, champion_decision, challenger_code, challenger_decision."""
    champ = scores(frame["truth"], frame["champion_code"], frame["champion_decision"], hierarchy)
    chall = scores(frame["truth"], frame["challenger_code"], frame["challenger_decision"], hierarchy)
    truth = frame["truth"].astype(str)
    champion_right = truth == frame["champion_code"].astype(str)
    challenger_right = truth == frame["challenger_code"].astype(str)
    test = mcnemar(int((champion_right & ~challenger_right).sum()), int((~champion_right & challenger_right).sum()))
    per_code = pd.DataFrame({"code": truth, "a": champion_right, "b": challenger_right}).groupby("code").agg(
        records=("a", "size"), champion=("a", "sum"), challenger=("b", "sum"))
    changes = [CodeChange(str(code), hierarchy.title(str(code)), int(r.records), int(r.champion), int(r.challenger))
               for code, r in per_code.iterrows() if r.champion != r.challenger]
    better = sorted((c for c in changes if c.change > 0), key=lambda c: (-c.change, c.code))[:LISTED_CODES]
    worse = sorted((c for c in changes if c.change < 0), key=lambda c: (c.change, c.code))[:LISTED_CODES]
    return PairedComparison(name, champ, chall, test, better, worse)


@dataclass(frozen=True)
class AggregateMove:
    """A published share (of one code at one level) now, and had the challenger coded the same records."""

    level: str
    code: str
    title: str
    published: float
    challenger: float

    @property
    def move(self) -> float:
        return self.challenger - self.published

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "move": self.move}


@dataclass(frozen=True)
class BreakRisk:
    records: int
    tolerance: float
    aggregates: int  # shares compared, over every level
    beyond: int  # how many move by more than the tolerance
    largest: list[AggregateMove]
    note: str | None = None

    @property
    def largest_move(self) -> float:
        return max((abs(m.move) for m in self.largest), default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "tolerance": self.tolerance, "aggregates": self.aggregates,
                "beyond": self.beyond, "largest_move": self.largest_move,
                "largest": [m.as_dict() for m in self.largest], "note": self.note}


def break_risk(published: pd.Series, challenger: pd.Series, hierarchy: Hierarchy, tolerance: float,
               note: str | None = None) -> BreakRisk:
    """How far the share of every code at every level moves between the published codes of a cycle's
    records and the codes the challenger gives the same records."""
    moves: list[AggregateMove] = []
    for level in hierarchy.levels:
        before = pd.Series(hierarchy.at_level(published.astype(str).tolist(), level), dtype=object).dropna()
        after = pd.Series(hierarchy.at_level(challenger.astype(str).tolist(), level), dtype=object).dropna()
        if before.empty and after.empty:
            continue
        shares = pd.DataFrame({"published": before.value_counts(normalize=True),
                               "challenger": after.value_counts(normalize=True)}).fillna(0.0)
        moves += [AggregateMove(level, str(code), hierarchy.title(str(code)), float(r.published), float(r.challenger))
                  for code, r in shares.iterrows()]
    beyond = sum(abs(m.move) > tolerance + 1e-12 for m in moves)
    largest = sorted(moves, key=lambda m: (-abs(m.move), m.level, m.code))[:LISTED_MOVERS]
    return BreakRisk(len(published), tolerance, len(moves), beyond, largest, note)
