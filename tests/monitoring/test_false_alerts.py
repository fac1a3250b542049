"""No drift, no alert: on 100 resamples of the test split (windows of 2,000 out of its 2,850 records,
compared with the dev reference), at most 5% of the resamples raise any alert."""

from __future__ import annotations

import numpy as np
import pandas as pd

from statops.monitoring.reference_store import load_reference
from statops.monitoring.signals import WindowInput, compute_signals
from statops.monitoring.statistics import ALERT
from statops.registry import load_model, resolve_model
from tests.conftest import Trained
from tests.monitoring.streams import WINDOW, bundled_test_split

RESAMPLES = 100


def test_false_alert_rate_on_no_drift_resamples(trained: Trained) -> None:
    if trained.ws.store.engine.dialect.name != "sqlite":
        import pytest

        pytest.skip("the signals read no store here: the SQLite case covers it")
    ref = resolve_model(trained.ws, trained.model)
    reference = load_reference(trained.ws, ref)
    assert reference is not None
    split = bundled_test_split()
    answers = load_model(trained.ws, ref).predict_frame(split["text"])
    records = pd.DataFrame({"code": answers["code"].astype(str), "confidence": answers["confidence"],
                            "decision": answers["decision"], "text_length": split["text"].str.len()})
    texts = split["text"].to_numpy(dtype=object)
    settings = trained.ws.settings
    rng = np.random.default_rng(12)
    raised: list[set[str]] = []
    for _ in range(RESAMPLES):
        rows = rng.choice(len(records), WINDOW, replace=False)
        window = WindowInput(records.iloc[rows].reset_index(drop=True), list(texts[rows]),
                             pd.DataFrame(columns=["code", "decision", "true_code", "source"]))
        raised.append({s.name for s in compute_signals(window, reference, settings) if s.status == ALERT})
    with_alert = [r for r in raised if r]
    assert len(with_alert) <= RESAMPLES * 0.05, with_alert
