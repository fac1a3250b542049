"""The comparison's statistics on tables whose answers are known: McNemar's test (exact and chi-square),
the break risk of published shares at every level, and combining data newest-wins."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from statops.classifications import Hierarchy
from statops.data import DatasetInfo
from statops.errors import InvalidInput
from statops.pipelines import break_risk, combine, mcnemar
from statops.pipelines.combine import Source, check_new_data

TREE = Hierarchy.from_structure(pd.DataFrame({
    "code": ["1", "11", "12", "2", "21"], "level": ["major", "unit", "unit", "major", "unit"],
    "title": ["One", "One-one", "One-two", "Two", "Two-one"], "parent": ["", "1", "1", "", "2"]}))


def test_mcnemar_exact_for_few_discordant_pairs() -> None:
    # b=3, c=10: two-sided binomial p = 2 * P(X <= 3 | n=13, 1/2) = 2 * (1 + 13 + 78 + 286) / 2**13
    test = mcnemar(3, 10)
    assert test.method == "exact binomial" and test.statistic is None
    assert test.p_value == pytest.approx(2 * 378 / 8192)
    assert mcnemar(10, 3).p_value == pytest.approx(test.p_value)  # symmetric


def test_mcnemar_chi_square_with_continuity_correction() -> None:
    # b=10, c=30: (|10-30| - 1)^2 / 40 = 9.025, p = P(chi2_1 > 9.025) = 0.002663
    test = mcnemar(10, 30)
    assert test.method.startswith("chi-square")
    assert test.statistic == pytest.approx(9.025)
    assert test.p_value == pytest.approx(0.0026634, rel=1e-3)


def test_mcnemar_without_discordant_pairs_finds_nothing() -> None:
    assert mcnemar(0, 0).p_value == 1.0


def test_break_risk_moves_every_level_and_lists_the_largest() -> None:
    published = pd.Series(["11"] * 50 + ["12"] * 30 + ["21"] * 20)
    challenger = pd.Series(["11"] * 50 + ["12"] * 25 + ["21"] * 25)  # five records move from 12 to 21
    risk = break_risk(published, challenger, TREE, tolerance=0.04)
    moves = {(m.level, m.code): round(m.move, 4) for m in risk.largest}
    assert moves == {("major", "1"): -0.05, ("major", "2"): 0.05, ("unit", "12"): -0.05, ("unit", "21"): 0.05,
                     ("unit", "11"): 0.0}
    assert risk.aggregates == 5 and risk.beyond == 4 and risk.largest_move == pytest.approx(0.05)
    assert [m.code for m in risk.largest[:4]] == ["1", "2", "12", "21"]
    assert break_risk(published, challenger, TREE, tolerance=0.06).beyond == 0


def _info(name: str, created: str, columns: tuple[str, str] = ("text", "code")) -> DatasetInfo:
    return DatasetInfo(name, 1, "0" * 64, 0, [], columns[0], columns[1], None, None, None, None, "f.csv", "0" * 64,
                       "", "tester", datetime.fromisoformat(created).replace(tzinfo=UTC))


def test_combine_keeps_the_newest_code_and_lists_each_conflict() -> None:
    old = pd.DataFrame({"text": ["Nurse", "Baker", "Welder"], "code": ["11", "12", "21"]})
    new = pd.DataFrame({"job": ["nurse ", "Plumber", "Welder", "Plumber"], "soc": ["12", "21", "21", "11"],
                        "coded_at": ["2025-01-02", "2025-01-01", "2025-01-01", "2025-01-03"]})
    combined = combine([Source(_info("new", "2025-02-01", ("job", "soc")), new, True),
                        Source(_info("old", "2024-01-01"), old, False)])
    codes = dict(zip(combined.frame["text"].str.casefold().str.strip(), combined.frame["code"], strict=True))
    assert codes == {"nurse": "12", "baker": "12", "welder": "21", "plumber": "11"}  # newest wins, by coded_at too
    conflicts = {c.kept: c for c in combined.conflicts}
    assert len(combined.conflicts) == 2
    assert conflicts["12"].dropped == (("11", "old@1"),) and conflicts["12"].kept_from == "new@1"
    assert conflicts["11"].dropped == (("21", "new@1"),)
    assert combined.duplicates == 1 and combined.new_texts == 1 and combined.relabelled == 1


def test_new_data_without_rows_or_with_unknown_codes_is_refused() -> None:
    with pytest.raises(InvalidInput, match="has no rows"):
        check_new_data(_info("empty", "2025-01-01"), pd.DataFrame({"text": [], "code": []}), TREE, "tree@1")
    with pytest.raises(InvalidInput, match=r"1 code\(s\) are not in classification tree@1: 99 \(2 rows\)"):
        check_new_data(_info("odd", "2025-01-01"), pd.DataFrame({"text": ["a", "b", "c"], "code": ["99", "99", "11"]}),
                       TREE, "tree@1")
