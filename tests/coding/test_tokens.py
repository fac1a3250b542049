"""The coder's fast paths give what the slow ones give: the TF-IDF features from per-word caches equal
scikit-learn's transform, the answer table equals the one built with json.dumps, and answers kept
from an earlier call are the answers a fresh model gives."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statops.classifications import Hierarchy
from statops.coding import train_coder
from statops.coding.model import build_features
from statops.coding.text import normalise
from statops.coding.tokens import TokenFeatures, supported
from statops.tasks import FitRequest

ODD = ["", "   ", "İstanbul ŞEF", "Ärzte_x  b", "a", "the the the manager manager", "x" * 300, "日本語 テスト",
       "ǅ ﬁnance", "naïve café résumé", "ﾃｽﾄ", "qwertyuiop zxcvbnm", "1234 5678", "sous chef sous chef"]


@pytest.fixture(scope="module")
def frames(soc) -> dict[str, pd.DataFrame]:  # noqa: ANN001
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731
    return {"train": read(soc.train).head(800), "dev": read(soc.dev).head(200), "test": read(soc.test).head(300),
            "structure": read(soc.structure)}


@pytest.fixture(scope="module")
def fitted_union(frames):  # noqa: ANN001, ANN201
    features = build_features()
    features.fit(normalise(frames["train"].text))
    return features


def test_the_cached_transform_equals_scikit_learns(fitted_union, frames) -> None:  # noqa: ANN001
    assert supported(fitted_union)
    texts = normalise(pd.concat([frames["test"].text, pd.Series(ODD)]))
    tokens = TokenFeatures(fitted_union)
    for _ in range(2):  # cold, then from the cache
        got, expected = tokens.transform(texts), fitted_union.transform(texts)
        assert got.shape == expected.shape and got.dtype == np.float32
        assert got.nnz == expected.nnz
        assert abs(got - expected).max() < 1e-6
    assert tokens.transform([]).shape == (0, expected.shape[1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=6))
def test_the_cached_transform_equals_scikit_learns_on_any_text(fitted_union, texts: list[str]) -> None:  # noqa: ANN001
    texts = normalise(texts)
    got = TokenFeatures(fitted_union).transform(texts)
    if not texts:  # scikit-learn refuses an empty batch; the cached transform answers an empty matrix
        assert got.shape[0] == 0
        return
    expected = fitted_union.transform(texts)
    assert got.shape == expected.shape and got.nnz == expected.nnz
    assert (abs(got - expected).max() if got.nnz else 0.0) < 1e-6


def test_another_union_is_not_taken_for_the_coders() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    assert not supported(FeatureUnion([("chars", TfidfVectorizer(analyzer="char")),
                                       ("words", TfidfVectorizer())]))
    assert not supported(FeatureUnion([("chars", TfidfVectorizer(analyzer="char_wb", sublinear_tf=True)),
                                       ("words", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 3)))]))


@pytest.fixture(scope="module")
def model(frames):  # noqa: ANN001, ANN201
    h = Hierarchy.from_structure(frames["structure"])
    return train_coder(FitRequest(frames["train"].text, frames["train"].soc2010, h, frames["dev"].text,
                                  frames["dev"].soc2010, {"seed": 0})).model


def test_the_answer_table_is_what_json_dumps_writes(model, frames) -> None:  # noqa: ANN001
    texts = pd.concat([frames["test"].text, pd.Series(ODD + [None]), frames["test"].text.head(20)], ignore_index=True)
    model.forget_answers()
    table = model.predict_frame(texts)
    predictions = model.predict(texts)
    blank = np.array([t == "" for t in normalise(texts)])
    assert len(table) == len(texts) and list(table.index) == list(range(len(texts)))
    assert table.code.tolist() == np.where(blank, "", predictions.codes.astype(str)).tolist()
    assert np.allclose(table.confidence, np.where(blank, 0.0, predictions.confidence))
    expected = ["[]" if b else json.dumps([{"code": str(c), "probability": round(float(q), 6)}
                                           for c, q in zip(codes, probs, strict=True)])
                for codes, probs, b in zip(predictions.top_codes, predictions.top_probs, blank, strict=True)]
    assert table.alternatives.tolist() == expected
    assert table.decision.tolist() == np.where((table.confidence >= model.threshold) & ~blank, "auto",
                                               "review").tolist()


def test_kept_answers_are_a_fresh_models_answers(model, frames) -> None:  # noqa: ANN001
    texts = frames["test"].text
    model.forget_answers()
    first = model.predict_frame(texts.head(100))
    mixed = model.predict_frame(texts)  # 100 kept, 200 new
    pd.testing.assert_frame_equal(mixed.head(100), first)
    model.forget_answers()
    pd.testing.assert_frame_equal(model.predict_frame(texts), mixed)
    # The decision follows the threshold, also for a kept answer.
    threshold = model.threshold
    try:
        model.threshold = 2.0
        assert (model.predict_frame(texts.head(10)).decision == "review").all()
    finally:
        model.threshold = threshold


def test_a_saved_model_loads_without_skops_and_answers_the_same(model, frames, tmp_path) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from statops.coding import save_model
    from tests.coding.blocked import without_modules

    folder = save_model(model, tmp_path / "model")
    assert (folder / "tfidf.json").is_file() and (folder / "features.skops").is_file()
    frames["test"][["text"]].to_csv(tmp_path / "in.csv", index=False)
    script = (  # loading the TF-IDF features needs no skops (nor torch, which it imports)
        without_modules("skops", "torch") + "import pandas as pd\n"
        "from statops.coding import load_model\n"
        f"m = load_model({str(folder)!r})\n"
        f"texts = pd.read_csv({str(tmp_path / 'in.csv')!r}, dtype=str, keep_default_na=False).text\n"
        f"m.predict_frame(texts).to_json({str(tmp_path / 'out.json')!r}, orient='records')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, capture_output=True)
    got = pd.read_json(tmp_path / "out.json", orient="records", dtype=False)
    expected = model.predict_frame(frames["test"].text)
    assert got.code.astype(str).tolist() == expected.code.tolist()
    assert got.alternatives.tolist() == expected.alternatives.tolist()
    assert np.allclose(got.confidence, expected.confidence)


def test_refit_on_dev_keeps_what_dev_chose_and_learns_from_dev(model, frames) -> None:  # noqa: ANN001
    from statops.tasks import get_task

    h = Hierarchy.from_structure(frames["structure"])
    refit = train_coder(FitRequest(frames["train"].text, frames["train"].soc2010, h, frames["dev"].text,
                                   frames["dev"].soc2010, {"seed": 0, "refit_on_dev": True}))
    known = int(frames["dev"].soc2010.isin(set(model.classes)).sum())
    assert refit.model.metadata["refit_on_dev"] == known > 0
    assert list(refit.model.classes) == list(model.classes)  # dev codes the training lacks are left out
    # Everything chosen on dev is what the plain fit chose; the classifiers differ (they saw dev).
    assert refit.model.threshold == model.threshold and refit.model.temperature == model.temperature
    assert refit.model.metadata["level_blend"] == model.metadata["level_blend"]
    assert not np.allclose(refit.model.weights, model.weights)
    dev_codes = refit.model.predict(frames["dev"].text).codes
    assert np.mean(dev_codes == frames["dev"].soc2010.to_numpy()) > np.mean(
        model.predict(frames["dev"].text).codes == frames["dev"].soc2010.to_numpy())
    task = get_task("coding")
    params = {k: str(v) for k, v in task.describe(refit.model).params.items()}
    assert task.options_from_params({**params, "dev_dataset": "soc-dev@1"})["refit_on_dev"] is True
    assert "refit_on_dev" not in task.options_from_params(
        {**{k: str(v) for k, v in task.describe(model).params.items()}, "dev_dataset": "soc-dev@1"})
