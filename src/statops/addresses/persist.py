"""Saving and loading an AddressModel without pickle. Files, each in its own format:

- reference.parquet: the reference rows (id and the address fields, as text)
- parser.crfsuite: the CRF in crfsuite's own model file
- encoder.skops: the n-gram vectoriser and the SVD projection (skops)
- vectors.usearch: the usearch HNSW index (its vectors are read back from it)
- tantivy/: the tantivy index directory, written at save time from the reference by one writer
  thread, so the same reference always gives the same index
- reranker.skops: the gradient-boosted re-ranker (skops)
- model.json: the confidence model's coefficients, the threshold, the settings
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from statops.addresses.candidates import TextIndex, VectorIndex
from statops.addresses.confidence import ConfidenceModel
from statops.addresses.embedding import AddressEncoder
from statops.addresses.fields import FIELDS, ID_COLUMN
from statops.addresses.gazetteer import Gazetteer
from statops.addresses.matching import Matcher
from statops.addresses.model import AddressModel
from statops.addresses.parser import AddressParser
from statops.addresses.rerank import FEATURES, Reranker
from statops.errors import InvalidInput

FORMAT_VERSION = 1
FILES = ("reference.parquet", "parser.crfsuite", "encoder.skops", "vectors.usearch", "reranker.skops", "model.json")


def save_model(model: AddressModel, folder: str | Path) -> Path:
    """Write the model's files into `folder` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    m = model.matcher
    if m.reranker is None:
        raise InvalidInput("an untrained matcher (no re-ranker) cannot be saved")
    m.gazetteer.reference.to_parquet(folder / "reference.parquet", index=False)
    m.parser.save(folder / "parser.crfsuite")
    m.encoder.save(folder / "encoder.skops")
    m.vector_index.save(folder / "vectors.usearch")
    m.reranker.save(folder / "reranker.skops")
    tantivy_folder = folder / "tantivy"
    if tantivy_folder.exists():
        shutil.rmtree(tantivy_folder)
    TextIndex.build(m.gazetteer, tantivy_folder)
    (folder / "model.json").write_text(json.dumps({
        "format_version": FORMAT_VERSION, "task": model.task, "threshold": model.threshold,
        "target_precision": model.target_precision, "top_k": model.top_k, "features": list(FEATURES),
        "confidence_model": model.confidence_model.to_dict(), "metadata": model.metadata,
    }, indent=2), encoding="utf-8")
    return folder


def load_model(folder: str | Path) -> AddressModel:
    """Read a model written by `save_model` (the training data is not needed)."""
    folder = Path(folder)
    missing = [name for name in (*FILES, "tantivy") if not (folder / name).exists()]
    if missing:
        raise InvalidInput(f"{folder} does not hold a statops address model (missing {', '.join(missing)})")
    info = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    if info.get("format_version") != FORMAT_VERSION:
        raise InvalidInput(f"{folder}: unsupported address model format {info.get('format_version')}")
    if info.get("features") != list(FEATURES):
        raise InvalidInput(f"{folder}: the re-ranker was trained on other features than this statops computes")
    reference = pd.read_parquet(folder / "reference.parquet").astype(str)[[ID_COLUMN, *FIELDS]]
    matcher = Matcher(
        Gazetteer(reference), AddressParser.load(folder / "parser.crfsuite"),
        AddressEncoder.load(folder / "encoder.skops"), TextIndex.open(folder / "tantivy"),
        VectorIndex.load(folder / "vectors.usearch"), Reranker.load(folder / "reranker.skops"),
    )
    return AddressModel(matcher, ConfidenceModel.from_dict(info["confidence_model"]), float(info["threshold"]),
                        float(info["target_precision"]), int(info["top_k"]), info.get("metadata", {}))
