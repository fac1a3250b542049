"""The threshold's guard for addresses that are not in the reference."""

from __future__ import annotations

import numpy as np
import pytest

from statops.addresses.confidence import allowed_out_of_reference, threshold_for_out_of_reference


@pytest.mark.parametrize(("count", "allowed"), [(0, 0), (100, 0), (500, 1), (1000, 4), (5000, 38)])
def test_acceptances_allowed_keep_the_share_under_one_percent_at_95_percent(count: int, allowed: int) -> None:
    assert allowed_out_of_reference(count, 0.01) == allowed


def test_threshold_sits_above_the_not_in_reference_queries_it_must_refuse() -> None:
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.2])
    outside = np.array([False, True, False, True, True])
    threshold = threshold_for_out_of_reference(confidence, outside)
    assert 0.9 < threshold <= 0.95
    assert not (confidence[outside] >= threshold).any()


def test_no_not_in_reference_queries_put_no_bound() -> None:
    assert threshold_for_out_of_reference(np.array([0.5, 0.6]), np.array([False, False])) == 0.0
