"""Coder profiles: what a model is made of beyond the TF-IDF level blend.

- `standard`: the TF-IDF coder alone (no extra packages).
- `accurate`: plus the MiniLM sentence encoder (an int8 ONNX export run by onnxruntime) and a
  nearest-neighbour model over the training records' embeddings, pooled with the linear classifier
  in log space.
- `fast`: the same, with a static embedding distilled from MiniLM instead of the transformer, so
  scoring needs no torch and costs a tokeniser call and a sparse product per batch.

Both embedding profiles add the classification's titles as training text, and give the confidence
model the neighbour model's signals. Everything that is chosen (neighbours, their temperature,
the pooling weight) is chosen on dev data only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from statops.classifications.hierarchy import Hierarchy
from statops.coding.calibration import fit_temperature
from statops.coding.embedding import Encoder, OnnxEncoder, StaticEncoder
from statops.coding.model import pool_scores
from statops.coding.neighbours import GRAPH, QUICK_GRAPH, Neighbourhood, NeighbourModel, build_graph
from statops.coding.ranking import top_k
from statops.coding.text import normalise
from statops.errors import InvalidInput

PROFILES = ("standard", "accurate", "fast")
NEIGHBOURS = (10, 25)
NEIGHBOUR_TEMPERATURES = (0.02, 0.05)
NEIGHBOUR_WEIGHTS = (0.25, 0.5, 0.75, 1.0)
NEIGHBOUR_FLOORS = (1e-3, 1e-2)
SHORTLIST = 5


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise InvalidInput(f"unknown coder profile '{profile}': use one of {', '.join(PROFILES)}")


def title_texts(hierarchy: Hierarchy, classes: set[str]) -> tuple[list[str], list[str]]:
    """The classification's titles as extra labelled text: each code's own title (for the codes that
    are trained), normalised. A classification without titles adds nothing."""
    pairs = [(hierarchy.titles.get(code, ""), code) for code in sorted(classes)]
    pairs = [(normalise([title])[0], code) for title, code in pairs if title and title != code]
    return [t for t, _ in pairs if t], [c for t, c in pairs if t]


def make_encoder(profile: str, training_texts: list[str]) -> Encoder:
    """The profile's encoder; the static one is distilled here, its token weights from `training_texts`."""
    return OnnxEncoder.export() if profile == "accurate" else StaticEncoder.distil(training_texts)


def embed_distinct(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """Embeddings of `texts`, each distinct text encoded once."""
    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    return encoder.encode(list(unique))[inverse]


@dataclass
class PooledFit:
    neighbours: NeighbourModel
    pooling: dict[str, float]
    dev_scores: np.ndarray  # pooled scores of the dev records
    dev_signals: np.ndarray  # the neighbour signals of the dev records
    temperature: float  # of the pooled scores


def graph_settings(profile: str) -> dict[str, Any]:
    """The neighbour graph of a profile: the fast profile searches a quantised, sparser graph."""
    return QUICK_GRAPH if profile == "fast" else GRAPH


def fit_pooling(train_embedded: np.ndarray, train_index: np.ndarray, classes: np.ndarray,
                dev_embedded: np.ndarray, dev_linear: np.ndarray, dev_index: np.ndarray,
                search: dict[str, Any] | None = None) -> PooledFit:
    """Choose k, the neighbour temperature, the pooling weight and floor on dev (accuracy plus
    top-5 accuracy, as the level blend), then the temperature of the pooled scores. `search`: the
    neighbour graph's settings (statops.coding.neighbours.GRAPH by default)."""
    known = dev_index >= 0
    linear_temperature = fit_temperature(dev_linear, dev_index)
    graph = build_graph(train_embedded, search)  # built once, shared by every k and temperature
    best: tuple[float, dict[str, float], NeighbourModel, Neighbourhood] | None = None
    for k, temperature in itertools.product(NEIGHBOURS, NEIGHBOUR_TEMPERATURES):
        model = NeighbourModel(train_embedded, train_index, len(classes), k, temperature, graph)
        hood = model.neighbourhood(dev_embedded)
        for weight, floor in itertools.product(NEIGHBOUR_WEIGHTS, NEIGHBOUR_FLOORS):
            pooling = {"linear_temperature": linear_temperature, "neighbour_weight": weight,
                       "neighbour_floor": floor}
            shortlist = top_k(pool_scores(dev_linear, hood, pooling), SHORTLIST)
            hit = shortlist == dev_index[:, None]
            score = float(np.mean(hit[:, 0] & known) + np.mean(hit.any(axis=1) & known))
            if best is None or score > best[0] + 1e-12:
                best = (score, pooling, model, hood)
    assert best is not None
    _, pooling, neighbours, hood = best
    scores = pool_scores(dev_linear, hood, pooling)
    temperature = fit_temperature(scores.astype(np.float64), dev_index)
    return PooledFit(neighbours, pooling, scores, hood.signals(np.argmax(scores, axis=1), train_index), temperature)
