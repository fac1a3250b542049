"""Agreement between coders: Cohen's kappa, overall and at each level of a classification's hierarchy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from statops.classifications.hierarchy import Hierarchy


def cohen_kappa(first: Sequence[str | None], second: Sequence[str | None]) -> float | None:
    """Cohen's kappa of two coders' labels for the same items (pairs with a missing label are left out):
    (observed agreement - chance agreement) / (1 - chance agreement). None without pairs; 1.0 when both
    coders used one and the same label throughout (agreement is perfect, chance is too)."""
    pairs = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
    if not pairs:
        return None
    labels = sorted({label for pair in pairs for label in pair})
    index = {label: i for i, label in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)), dtype=float)
    for a, b in pairs:
        table[index[a], index[b]] += 1
    total = table.sum()
    observed = np.trace(table) / total
    chance = float((table.sum(axis=1) / total) @ (table.sum(axis=0) / total))
    if chance >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return float((observed - chance) / (1.0 - chance))


@dataclass(frozen=True)
class LevelAgreement:
    level: str
    pairs: int
    agreement: float | None  # share of pairs with the same code at this level
    kappa: float | None

    def as_dict(self) -> dict[str, object]:
        return {"level": self.level, "pairs": self.pairs, "agreement": self.agreement, "kappa": self.kappa}


def agreement_by_level(pairs: Sequence[tuple[str, str]], hierarchy: Hierarchy) -> list[LevelAgreement]:
    """Kappa and raw agreement of pairs of codes for the same items, at each level of `hierarchy`
    (a code's ancestor at that level; the codes themselves at the lowest)."""
    result = []
    for level in hierarchy.levels:
        first = hierarchy.at_level([a for a, _ in pairs], level)
        second = hierarchy.at_level([b for _, b in pairs], level)
        both = [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]
        agree = sum(a == b for a, b in both) / len(both) if both else None
        result.append(LevelAgreement(level, len(both), agree, cohen_kappa(first, second)))
    return result
