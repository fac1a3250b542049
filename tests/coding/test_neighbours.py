"""The neighbour model's search: exact ranking, and the HNSW graph (usearch) used for many records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from statops.coding import neighbours as nb
from statops.coding.neighbours import NeighbourModel, build_graph

try:
    import usearch  # noqa: F401

    has_usearch = True
except ImportError:
    has_usearch = False
needs_usearch = pytest.mark.skipif(not has_usearch, reason="the embeddings extra (usearch) is not installed")


def unit_rows(n: int, dims: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dims)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def records() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    train = unit_rows(2000, 32, 0)
    labels = np.random.default_rng(1).integers(0, 12, len(train)).astype(np.int32)
    # queries close to known training rows, and one empty text (a zero row)
    queries = train[:50] + 0.05 * unit_rows(50, 32, 2)
    queries = np.vstack([queries / np.linalg.norm(queries, axis=1, keepdims=True), np.zeros((1, 32), np.float32)])
    return train, labels, queries


def test_exact_search_finds_the_most_similar_rows(records) -> None:  # noqa: ANN001
    train, labels, queries = records
    model = NeighbourModel(train, labels, 12, k=5)
    neighbours, similarities = model.nearest(queries[:50])
    expected = np.argsort(-(queries[:50] @ train.T), axis=1)[:, :5]
    assert all(set(a) == set(b) for a, b in zip(neighbours, expected, strict=True))
    assert np.allclose(similarities, np.take_along_axis(queries[:50] @ train.T, neighbours, axis=1), atol=1e-5)
    assert (neighbours[:, :] == np.arange(50)[:, None]).any(axis=1).all()  # each query's own source row


@needs_usearch
def test_a_graph_is_built_only_for_many_records(records, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    train, _, _ = records
    assert build_graph(train) is None  # 2,000 records: exact search
    monkeypatch.setattr(nb, "APPROXIMATE_FROM", 1000)
    assert build_graph(train) is not None


@needs_usearch
def test_the_graph_finds_the_neighbours_and_loads_the_same(records, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                                           tmp_path: Path) -> None:
    train, labels, queries = records
    monkeypatch.setattr(nb, "APPROXIMATE_FROM", 1000)
    exact = NeighbourModel(train, labels, 12, k=10).neighbourhood(queries)
    model = NeighbourModel(train, labels, 12, k=10, graph=build_graph(train))
    found = model.neighbourhood(queries)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.neighbours[:50], exact.neighbours[:50],
                                                                strict=True)])
    assert recall > 0.9
    assert np.allclose(found.probabilities[:50].sum(axis=1), 1.0, atol=1e-5)
    assert not found.probabilities[50].any()  # the empty text votes for nothing
    assert model.settings()["search"] == "hnsw"
    alone = model.neighbourhood(queries[:1])  # a single record, as the server sends
    assert np.array_equal(alone.neighbours[0], found.neighbours[0])
    model.save(tmp_path)
    loaded = NeighbourModel.load(tmp_path, model.settings(), 12)
    again = loaded.neighbourhood(queries)
    assert np.array_equal(again.neighbours, found.neighbours) and np.allclose(again.probabilities, found.probabilities)


@needs_usearch
def test_a_quantised_graph_gives_exact_similarities(records, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                                    tmp_path: Path) -> None:
    train, labels, queries = records
    monkeypatch.setattr(nb, "APPROXIMATE_FROM", 1000)
    model = NeighbourModel(train, labels, 12, k=10, graph=build_graph(train, nb.QUICK_GRAPH))
    found = model.neighbourhood(queries)
    exact = np.take_along_axis(queries @ train.T, found.neighbours, axis=1)
    assert np.allclose(found.similarities[:50], exact[:50], atol=1e-5)  # from the float32 rows, not the int8 graph
    assert (found.neighbours[:50] == np.arange(50)[:, None]).any(axis=1).mean() > 0.9
    assert model.settings()["dtype"] == "i8" and model.settings()["expansion_search"] == 16
    model.save(tmp_path)
    loaded = NeighbourModel.load(tmp_path, model.settings(), 12)
    assert loaded.settings() == model.settings()  # the search width is restored, not usearch's default
    again = loaded.neighbourhood(queries)
    assert np.array_equal(again.neighbours, found.neighbours) and np.allclose(again.probabilities, found.probabilities)
