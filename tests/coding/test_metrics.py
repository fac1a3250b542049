from __future__ import annotations

import numpy as np

from statops.classifications import Hierarchy
from statops.coding.metrics import (
    coverage_curve,
    evaluate_predictions,
    expected_calibration_error,
    threshold_for_accuracy,
)


def test_threshold_is_the_lowest_that_keeps_the_target_accuracy() -> None:
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, False, True, False])
    assert threshold_for_accuracy(confidence, correct, 1.0) == 0.9
    assert threshold_for_accuracy(confidence, correct, 0.8) == 0.7  # 4 of 5
    assert threshold_for_accuracy(confidence, correct, 0.5) == 0.6


def test_ties_are_taken_or_left_together_and_unreachable_targets_code_nothing() -> None:
    confidence = np.array([0.9, 0.9, 0.5])
    correct = np.array([True, False, True])
    assert threshold_for_accuracy(confidence, correct, 0.9) > 0.9
    assert not (confidence >= threshold_for_accuracy(confidence, correct, 0.9)).any()
    assert threshold_for_accuracy(confidence, correct, 0.5) == 0.5


def test_expected_calibration_error() -> None:
    assert expected_calibration_error(np.array([0.8] * 10), np.array([True] * 8 + [False] * 2)) < 1e-9
    assert abs(expected_calibration_error(np.array([1.0, 1.0]), np.array([True, False])) - 0.5) < 1e-9


def test_coverage_curve_runs_from_most_confident_to_all() -> None:
    curve = coverage_curve(np.array([0.9, 0.8, 0.7, 0.6]), np.array([True, True, False, False]), points=5)
    assert curve.coverage == [0.25, 0.5, 0.75, 1.0]
    assert curve.accuracy == [1.0, 1.0, 2 / 3, 0.5]


def test_accuracy_at_every_level_of_the_hierarchy() -> None:
    h = Hierarchy.from_codes(["1111", "1112", "1211", "2111"])
    evaluation = evaluate_predictions(
        ["1111", "1112", "1211", "2111"], ["1111", "1111", "1111", "1111"], np.array([0.9, 0.8, 0.7, 0.6]),
        [["1111", "2111"]] * 3 + [["1111", "2111"]], h, threshold=0.85, target_accuracy=0.95,
    )
    assert evaluation.level_accuracy == {"prefix1": 0.75, "prefix2": 0.5, "prefix3": 0.5, "prefix4": 0.25}
    assert evaluation.top5_accuracy == 0.5
    assert (evaluation.auto_coded_share, evaluation.auto_coded_accuracy) == (0.25, 1.0)
    assert evaluation.metrics()["accuracy_prefix1"] == 0.75


# -- per code, confusions, worst codes ------------------------------------------------------------

import pandas as pd  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from statops.coding.breakdown import WORST_MIN_SUPPORT  # noqa: E402


def _structure() -> Hierarchy:
    return Hierarchy.from_structure(pd.DataFrame({
        "code": ["1", "11", "12", "2", "21"],
        "level": ["major", "unit", "unit", "major", "unit"],
        "title": ["Managers", "Chief executives & <senior> officials", "Directors", "Professionals", "Scientists"],
        "parent": ["", "1", "1", "", "2"],
    }))


def test_per_code_table_confusions_and_levels_on_a_worked_example() -> None:
    h = _structure()
    truth = ["11", "11", "11", "12", "21", "21"]
    predicted = ["11", "11", "12", "12", "11", "21"]
    confidence = np.array([0.9, 0.5, 0.9, 0.9, 0.9, 0.2])
    evaluation = evaluate_predictions(truth, predicted, confidence, [[p] for p in predicted], h,
                                      threshold=0.8, target_accuracy=0.9)
    by_code = {row.code: row for row in evaluation.per_code}
    assert [row.code for row in evaluation.per_code] == ["11", "21", "12"]  # by support, then code
    c11 = by_code["11"]
    assert (c11.support, c11.predicted, c11.correct) == (3, 3, 2)
    assert (c11.precision, c11.recall, c11.f1) == (2 / 3, 2 / 3, 2 / 3)
    assert (c11.auto_coded, c11.auto_coded_share, c11.auto_coded_accuracy) == (2, 2 / 3, 0.5)
    assert (c11.confused_with, c11.confused_with_title) == ("12", "Directors")
    assert c11.title == "Chief executives & <senior> officials"
    c21 = by_code["21"]
    assert (c21.precision, c21.recall, c21.f1) == (1.0, 0.5, 2 / 3)
    assert (c21.auto_coded_share, c21.auto_coded_accuracy) == (0.5, 0.0)
    assert by_code["12"].confused_with is None and by_code["12"].precision == 0.5
    assert [(c.true_code, c.predicted_code, c.count) for c in evaluation.confusions] == [("11", "12", 1), ("21", "11", 1)]
    assert evaluation.confusions[1].predicted_title.startswith("Chief executives")
    assert evaluation.confusions[1].share_of_true == 0.5
    levels = {row.level: row for row in evaluation.levels}
    assert (levels["major"].codes, levels["major"].accuracy) == (2, 5 / 6)
    assert levels["major"].auto_coded_accuracy == 3 / 4  # 21 coded as 11 is wrong at major too
    assert levels["unit"].accuracy == evaluation.accuracy == 4 / 6
    assert evaluation.worst_codes == []  # no code has WORST_MIN_SUPPORT records
    tables = evaluation.tables()
    assert list(tables["per_code"]["code"]) == ["11", "21", "12"]
    assert tables["worst_codes"].empty and "f1" in tables["worst_codes"].columns


def test_a_code_never_predicted_has_no_precision_and_one_never_true_has_no_recall() -> None:
    h = Hierarchy.from_codes(["11", "12"])
    evaluation = evaluate_predictions(["11", "11"], ["12", "12"], np.array([0.1, 0.1]), [["12"], ["12"]], h,
                                      threshold=0.5, target_accuracy=0.9)
    by_code = {row.code: row for row in evaluation.per_code}
    assert (by_code["11"].precision, by_code["11"].recall, by_code["11"].f1) == (None, 0.0, 0.0)
    assert (by_code["12"].precision, by_code["12"].recall, by_code["12"].support) == (0.0, None, 0)
    assert by_code["11"].auto_coded_accuracy is None  # none auto-coded


def test_worst_codes_need_enough_support_and_are_ordered_by_f1() -> None:
    h = Hierarchy.from_codes(["A", "B", "C"])
    n = WORST_MIN_SUPPORT
    truth = ["A"] * n + ["B"] * n + ["C"] * (n - 1)
    predicted = ["A"] * n + ["B"] * (n // 2) + ["A"] * (n - n // 2) + ["A"] * (n - 1)  # C: never right, too few
    evaluation = evaluate_predictions(truth, predicted, np.full(len(truth), 0.9), [[p] for p in predicted], h,
                                      threshold=0.5, target_accuracy=0.9)
    # A: every record right, but many others coded as A too; B: half right, never wrongly given (F1 2/3)
    coded_as_a = n + (n - n // 2) + (n - 1)
    f1_b = 2 * (n // 2) / (n + n // 2)
    assert [(c.code, c.f1) for c in evaluation.worst_codes] == [("A", 2 * n / (n + coded_as_a)), ("B", f1_b)]
    summary = evaluation.summary()
    assert summary["worst_codes_min_support"] == n and summary["worst_codes"][0]["code"] == "A"
    assert "per_code" not in summary and "curve" not in summary
    assert len(evaluation.as_dict()["per_code"]) == 3


codes = st.sampled_from(["1111", "1112", "1121", "1211", "2111", "2112", "9999"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(codes, codes, st.floats(0, 1)), min_size=1, max_size=120), st.floats(0, 1))
def test_per_code_table_adds_up(rows: list[tuple[str, str, float]], threshold: float) -> None:
    truth = [t for t, _, _ in rows]
    predicted = [p for _, p, _ in rows]
    confidence = np.array([c for _, _, c in rows])
    evaluation = evaluate_predictions(truth, predicted, confidence, [[p] for p in predicted],
                                      Hierarchy.from_codes(truth + predicted), threshold, 0.9)
    per_code = evaluation.per_code
    n = len(rows)
    assert sum(r.support for r in per_code) == n
    assert sum(r.predicted for r in per_code) == n
    assert sum(r.correct for r in per_code) == round(evaluation.accuracy * n)
    assert sum(r.auto_coded for r in per_code) == round(evaluation.auto_coded_share * n)
    assert {r.code for r in per_code} == set(truth) | set(predicted)
    for r in per_code:
        for value in (r.precision, r.recall, r.auto_coded_share, r.auto_coded_accuracy):
            assert value is None or 0.0 <= value <= 1.0
        assert 0.0 <= r.f1 <= 1.0
        assert (r.precision is None) == (r.predicted == 0) and (r.recall is None) == (r.support == 0)
    wrong = sum(1 for t, p in zip(truth, predicted, strict=True) if t != p)
    counts = [c.count for c in evaluation.confusions]
    assert counts == sorted(counts, reverse=True) and sum(counts) <= wrong and len(counts) <= 20
    assert all(c.true_code != c.predicted_code and 0 < c.share_of_true <= 1 for c in evaluation.confusions)
    assert all(c.support >= evaluation.worst_codes_min_support for c in evaluation.worst_codes)
    f1s = [c.f1 for c in evaluation.worst_codes]
    assert f1s == sorted(f1s)
    assert {r.level: r.accuracy for r in evaluation.levels} == evaluation.level_accuracy
