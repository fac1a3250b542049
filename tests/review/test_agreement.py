"""Cohen's kappa against known tables, per hierarchy level, and the id-hash sampling."""

from __future__ import annotations

import pandas as pd
import pytest

from statops.classifications import Hierarchy
from statops.review import agreement_by_level, coded_twice, cohen_kappa, in_audit_sample
from statops.scoring.prediction_log import new_id


def _labels(table: list[list[int]], names: list[str]) -> tuple[list[str], list[str]]:
    first, second = [], []
    for i, row in enumerate(table):
        for j, n in enumerate(row):
            first += [names[i]] * n
            second += [names[j]] * n
    return first, second


def test_kappa_on_known_tables() -> None:
    # Wikipedia's example: 50 proposals, yes/no; po = 0.7, pe = 0.5 -> kappa 0.4
    assert cohen_kappa(*_labels([[20, 5], [10, 15]], ["yes", "no"])) == pytest.approx(0.4)
    # Fleiss, Cohen and Everitt's three-category table (Cohen 1960 style): kappa = 0.4915...
    first, second = _labels([[44, 5, 1], [7, 20, 3], [9, 5, 6]], ["a", "b", "c"])
    po = (44 + 20 + 6) / 100
    pe = (50 * 60 + 30 * 30 + 20 * 10) / 100 ** 2
    assert cohen_kappa(first, second) == pytest.approx((po - pe) / (1 - pe))
    assert cohen_kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    assert cohen_kappa(["a", "a"], ["a", "a"]) == 1.0  # one label throughout: perfect
    assert cohen_kappa([None], ["a"]) is None
    assert cohen_kappa(["a", "b", None], ["b", "a", "a"]) == pytest.approx(-1.0)


def test_kappa_per_hierarchy_level() -> None:
    hierarchy = Hierarchy.from_structure(pd.DataFrame({
        "code": ["1", "11", "111", "112", "2", "21", "211"],
        "level": ["major", "sub", "unit", "unit", "major", "sub", "unit"],
        "title": list("abcdefg"),
        "parent": ["", "1", "11", "11", "", "2", "21"],
    }))
    pairs = [("111", "112"), ("111", "111"), ("211", "211"), ("112", "211")]
    levels = {a.level: a for a in agreement_by_level(pairs, hierarchy)}
    assert set(levels) == {"major", "sub", "unit"}
    assert levels["unit"].agreement == pytest.approx(0.5) and levels["unit"].pairs == 4
    assert levels["major"].agreement == pytest.approx(0.75)
    # major: 1/1, 1/1, 2/2, 1/2 -> po 0.75, pe = (3*2 + 1*2)/16 = 0.5 -> kappa 0.5
    assert levels["major"].kappa == pytest.approx(0.5)


def test_sampling_is_reproducible_and_near_its_share() -> None:
    ids = [new_id() for _ in range(20_000)]
    audit = [in_audit_sample(i, 0.02) for i in ids]
    assert audit == [in_audit_sample(i, 0.02) for i in ids]
    assert 0.015 < sum(audit) / len(ids) < 0.025
    double = [coded_twice(i, 0.10) for i in ids]
    assert 0.09 < sum(double) / len(ids) < 0.11
    both = sum(a and d for a, d in zip(audit, double, strict=True))
    assert both < 0.005 * len(ids)  # the two choices are independent of each other
    assert not any(in_audit_sample(i, 0.0) for i in ids[:100])
    assert all(in_audit_sample(i, 1.0) for i in ids[:100])
