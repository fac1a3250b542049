"""Saving and loading a CodingModel without pickle: skops for scikit-learn parts, npy and JSON.

The coder's TF-IDF union is also written as its fitted state (each vectoriser's settings and
vocabulary as JSON, its idf as npy), and a model that has that form is loaded from it: the same
vectorisers, rebuilt without skops. Importing skops imports every scikit-learn estimator (and torch,
where it is installed) to list the trusted types, and reading the skops file rebuilds the
vocabularies item by item: about half of a `statops score` run on a million rows went to those.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from statops.classifications.hierarchy import Hierarchy
from statops.coding.calibration import ConfidenceModel
from statops.coding.embedding import OnnxEncoder, StaticEncoder, load_encoder
from statops.coding.model import CodingModel, word_vocabulary
from statops.coding.neighbours import NeighbourModel
from statops.coding.tokens import supported
from statops.errors import InvalidInput

TFIDF_FILE = "tfidf.json"
# The vectoriser settings the JSON form keeps; `supported` guarantees that the rest are defaults.
TFIDF_SETTINGS = ("analyzer", "ngram_range", "sublinear_tf", "token_pattern", "lowercase", "norm", "use_idf",
                  "smooth_idf", "min_df", "max_df", "max_features")

FORMAT_VERSION = 1


def save_model(model: CodingModel, folder: str | Path) -> Path:
    """Write the model's files into `folder` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    import skops.io as sio

    sio.dump(model.features, folder / "features.skops")
    if supported(model.features):
        save_tfidf(model.features, folder)
    np.save(folder / "weights.npy", model.weights, allow_pickle=False)
    np.save(folder / "bias.npy", model.bias, allow_pickle=False)
    (folder / "classes.json").write_text(json.dumps([str(c) for c in model.classes]), encoding="utf-8")
    (folder / "classification.json").write_text(json.dumps({
        "from_prefixes": model.hierarchy.from_prefixes, "codes": model.hierarchy.to_records(),
    }), encoding="utf-8")
    (folder / "model.json").write_text(json.dumps({
        "format_version": FORMAT_VERSION,
        "temperature": model.temperature,
        "threshold": model.threshold,
        "target_accuracy": model.target_accuracy,
        "confidence_model": model.confidence_model.to_dict(),
        "metadata": model.metadata,
        **_embedding_parts(model, folder),
    }, indent=2), encoding="utf-8")
    return folder


def _embedding_parts(model: CodingModel, folder: Path) -> dict:
    """Write the encoder's and the neighbour model's arrays (npy, JSON); their settings for model.json."""
    if model.encoder is None or model.neighbours is None:
        return {}
    if isinstance(model.encoder, StaticEncoder | OnnxEncoder):
        model.encoder.save(folder)
    model.neighbours.save(folder)
    return {"profile": model.profile, "encoder": model.encoder.describe(),
            "neighbours": model.neighbours.settings(), "pooling": model.pooling}


def load_model(folder: str | Path) -> CodingModel:
    """Read a model saved by `save_model`. Refuses skops files holding types outside scikit-learn's own."""
    folder = Path(folder)
    features_file = folder / "features.skops"
    if not features_file.is_file():
        raise InvalidInput(f"{folder} does not hold a statops coding model (no features.skops)")
    if (folder / TFIDF_FILE).is_file():
        features = load_tfidf(folder)
    else:  # a model saved before the JSON form
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=features_file)
        if untrusted:
            raise InvalidInput(f"{features_file} holds types that are not trusted: {', '.join(untrusted)}")
        features = sio.load(features_file, trusted=[])
    info = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    if info.get("format_version") != FORMAT_VERSION:
        raise InvalidInput(f"{folder}: unsupported model format {info.get('format_version')}")
    classification = json.loads((folder / "classification.json").read_text(encoding="utf-8"))
    hierarchy = Hierarchy.from_records(classification["codes"], classification["from_prefixes"])
    vocabulary = word_vocabulary(features)
    classes = np.asarray(json.loads((folder / "classes.json").read_text(encoding="utf-8")), dtype=object)
    encoder = load_encoder(info["encoder"], folder) if "encoder" in info else None
    neighbours = NeighbourModel.load(folder, info["neighbours"], len(classes)) if "neighbours" in info else None
    return CodingModel(
        features=features,
        weights=np.load(folder / "weights.npy", allow_pickle=False),
        bias=np.load(folder / "bias.npy", allow_pickle=False),
        classes=classes,
        temperature=float(info["temperature"]),
        confidence_model=ConfidenceModel.from_dict(info["confidence_model"], vocabulary),
        threshold=float(info["threshold"]),
        target_accuracy=float(info["target_accuracy"]),
        hierarchy=hierarchy,
        metadata=info.get("metadata", {}),
        encoder=encoder,
        neighbours=neighbours,
        pooling=info.get("pooling", {}),
        profile=info.get("profile", "standard"),
    )


def save_tfidf(features: FeatureUnion, folder: Path) -> None:
    """The union's vectorisers as settings and vocabulary (JSON) and idf (npy)."""
    parts = {}
    for name, vectoriser in features.transformer_list:
        settings = {key: getattr(vectoriser, key) for key in TFIDF_SETTINGS}
        settings["ngram_range"] = list(settings["ngram_range"])
        parts[name] = {"settings": settings, "dtype": np.dtype(vectoriser.dtype).name,
                       "vocabulary": {term: int(column) for term, column in vectoriser.vocabulary_.items()}}
        np.save(folder / f"tfidf_{name}_idf.npy", np.asarray(vectoriser.idf_), allow_pickle=False)
    (folder / TFIDF_FILE).write_text(json.dumps({"transformers": parts}, ensure_ascii=False), encoding="utf-8")


def load_tfidf(folder: Path) -> FeatureUnion:
    """The union `save_tfidf` wrote, fitted as it was."""
    parts = json.loads((folder / TFIDF_FILE).read_text(encoding="utf-8"))["transformers"]
    transformers = []
    for name, part in parts.items():
        settings = {key: part["settings"][key] for key in TFIDF_SETTINGS}
        settings["ngram_range"] = tuple(settings["ngram_range"])
        vectoriser = TfidfVectorizer(**settings, dtype=np.dtype(part["dtype"]).type)
        vectoriser.vocabulary_ = part["vocabulary"]
        vectoriser.idf_ = np.load(folder / f"tfidf_{name}_idf.npy", allow_pickle=False)
        transformers.append((name, vectoriser))
    features = FeatureUnion(transformers)
    if not supported(features):
        raise InvalidInput(f"{folder / TFIDF_FILE} does not describe the coder's TF-IDF features")
    return features
