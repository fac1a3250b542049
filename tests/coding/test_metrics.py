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
