"""Fast paths give the slow paths' answers: compiled trees, one text embedded at a time."""

from __future__ import annotations

import numpy as np

from statops.addresses.model import AddressModel
from statops.addresses.rerank import FEATURES


def test_compiled_trees_equal_scikit_learns_predict_proba(model: AddressModel) -> None:
    reranker = model.matcher.reranker
    assert reranker is not None
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, len(FEATURES))) * 3
    x[:, :6] = rng.integers(0, 4, size=(500, 6))
    x[::7, 10] = np.nan
    np.testing.assert_allclose(reranker.trees.probability(x), reranker.model.predict_proba(x)[:, 1], rtol=0,
                               atol=1e-12)


def test_one_text_at_a_time_embeds_as_the_batch_does(model: AddressModel, demo_bed) -> None:  # type: ignore[no-untyped-def]
    encoder = model.matcher.encoder
    texts = [t.upper() for t in demo_bed.test["text"].head(40)] + ["", "ZZZZ"]
    batch = encoder.encode(texts)
    singles = np.vstack([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(singles, batch, atol=1e-5)
