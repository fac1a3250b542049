"""A nearest-neighbour model over the training records' sentence embeddings.

Each record's class distribution is the softmax-weighted vote of its k most similar training
records (cosine similarity of unit-length embeddings). It is pooled with the linear classifier in
log space. Its signals (how much of the vote the top code got, how similar the nearest training
record of the top code is) feed the confidence model.

With many training records the neighbours are looked up in an HNSW graph (usearch, part of the
embeddings extra) instead of ranking every training record for every query: on SOC2010 (20k
records) about twice as fast, with 98.6% of the exact neighbours found. The graph is built once at
training, single-threaded so that it is the same on every run, and saved with the model in
usearch's own file format (no pickle).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from statops.coding.embedding import INSTALL_HINT
from statops.errors import InvalidInput

# Queries per similarity block: CHUNK x training records float32 at a time. Small enough for the
# block to stay in cache while it is ranked (1,024 took twice as long as 256 with 20k records).
CHUNK = 256
APPROXIMATE_FROM = 10_000  # training records from which neighbours are looked up in an HNSW graph
GRAPH: dict[str, Any] = {"connectivity": 16, "expansion_add": 128, "expansion_search": 64}
# A sparser graph of int8 vectors searched with a shorter candidate list: on SOC2010 (20k records,
# 384 dimensions) about ten times as fast as GRAPH; the similarities of the neighbours it finds are
# then computed exactly from the float32 embeddings, so only which neighbours are found is approximate.
QUICK_GRAPH: dict[str, Any] = {"connectivity": 8, "expansion_add": 64, "expansion_search": 16, "dtype": "i8"}
INDEX_FILE = "neighbour_index.usearch"


def build_graph(embeddings: np.ndarray, settings: dict[str, Any] | None = None) -> Any | None:
    """An HNSW graph over `embeddings` (inner product) with `settings` (GRAPH by default), or None:
    too few records to need one, or usearch is not installed (then the search is exact)."""
    if len(embeddings) < APPROXIMATE_FROM:
        return None
    try:
        from usearch.index import Index
    except ImportError:
        return None
    settings = settings or GRAPH
    graph = Index(ndim=embeddings.shape[1], metric="ip", dtype=settings.get("dtype", "f32"),
                  connectivity=settings["connectivity"], expansion_add=settings["expansion_add"],
                  expansion_search=settings["expansion_search"])
    graph.add(np.arange(len(embeddings), dtype=np.uint64), np.ascontiguousarray(embeddings, dtype=np.float32),
              threads=1)
    return graph


def exact_nearest(queries: np.ndarray, embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k most similar rows of `embeddings` (unordered) and their similarities."""
    neighbours = np.zeros((len(queries), k), dtype=np.int64)
    similarities = np.zeros((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), CHUNK):
        block = queries[start:start + CHUNK] @ embeddings.T
        nearest = np.argpartition(block, -k, axis=1)[:, -k:] if k < block.shape[1] else \
            np.tile(np.arange(block.shape[1]), (len(block), 1))
        neighbours[start:start + len(block)] = nearest
        similarities[start:start + len(block)] = np.take_along_axis(block, nearest, axis=1)
    return neighbours, similarities


@dataclass
class Neighbourhood:
    """For each query: its class distribution and its k neighbours (training row, similarity)."""

    probabilities: np.ndarray  # (n, classes) float32, rows sum to 1 (zero rows for empty texts)
    neighbours: np.ndarray  # (n, k) training rows
    similarities: np.ndarray  # (n, k) float32

    def signals(self, top_codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Per query: the vote share of the top code, the similarity of the nearest training record
        with the top code (0 when none is among the k), and of the nearest record at all."""
        rows = np.arange(len(top_codes))
        share = self.probabilities[rows, top_codes] if len(rows) else np.zeros(0)
        same = labels[self.neighbours] == top_codes[:, None]
        nearest_same = np.where(same, self.similarities, 0.0).max(axis=1, initial=0.0)
        nearest = self.similarities.max(axis=1, initial=0.0)
        return np.column_stack([share, nearest_same, nearest]).astype(np.float64)


@dataclass
class NeighbourModel:
    """k nearest training records by cosine similarity, weighted by exp(similarity / temperature)."""

    embeddings: np.ndarray  # (training records, dims) float32, unit rows
    labels: np.ndarray  # (training records,) class index, int32
    n_classes: int
    k: int = 20
    temperature: float = 0.05
    graph: Any | None = field(default=None, repr=False, compare=False)  # HNSW (build_graph); None: exact

    def nearest(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each query's k nearest training rows and their similarities."""
        k = min(self.k, len(self.embeddings))
        if self.graph is None or not len(queries):
            return exact_nearest(queries, self.embeddings, k)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        found = self.graph.search(queries, k, threads=max(1, min(4, os.cpu_count() or 1)))
        neighbours = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)
        if str(self.graph.dtype).lower().endswith("f32"):
            similarities = (1.0 - np.asarray(found.distances, dtype=np.float32)).reshape(len(queries), -1)
        else:  # a quantised graph's distances are its own: the similarities exactly, from the embeddings
            safe = np.where(neighbours < len(self.embeddings), neighbours, 0)
            similarities = np.empty(neighbours.shape, dtype=np.float32)
            for start in range(0, len(queries), CHUNK):
                block = slice(start, start + CHUNK)
                similarities[block] = np.einsum("nkd,nd->nk", self.embeddings[safe[block]], queries[block])
        # One query gets a Matches (no counts), several a BatchMatches.
        counts = np.asarray(found.counts if hasattr(found, "counts") else [len(found.keys)]).reshape(-1)
        short = counts < k  # the graph found fewer: rank those exactly
        if short.any():
            neighbours[short], similarities[short] = exact_nearest(queries[short], self.embeddings, k)
        return neighbours, similarities

    def neighbourhood(self, queries: np.ndarray) -> Neighbourhood:
        n = len(queries)
        neighbours, similarities = self.nearest(queries)
        k = neighbours.shape[1]
        votes = np.exp((similarities - similarities.max(axis=1, keepdims=True)) / np.float32(self.temperature))
        votes /= votes.sum(axis=1, keepdims=True)
        cells = np.repeat(np.arange(n), k) * self.n_classes + self.labels[neighbours].ravel()
        probabilities = np.bincount(cells, weights=votes.ravel(), minlength=n * self.n_classes)
        probabilities = probabilities.reshape(n, self.n_classes).astype(np.float32)
        empty = ~np.any(queries, axis=1)  # an empty text has no neighbours
        probabilities[empty] = 0.0
        similarities[empty] = 0.0
        return Neighbourhood(probabilities, neighbours, similarities)

    def settings(self) -> dict[str, Any]:
        return {"k": self.k, "temperature": self.temperature, "records": len(self.labels),
                "search": "exact" if self.graph is None else "hnsw", **self.graph_settings}

    @property
    def graph_settings(self) -> dict[str, Any]:
        """The graph's build and search settings (GRAPH's keys, and its dtype when not float32)."""
        if self.graph is None:
            return {}
        settings = {"connectivity": int(self.graph.connectivity), "expansion_add": int(self.graph.expansion_add),
                    "expansion_search": int(self.graph.expansion_search)}
        dtype = str(self.graph.dtype).lower().rsplit(".", 1)[-1]
        return settings if dtype == "f32" else {**settings, "dtype": dtype}

    def save(self, folder: Path) -> None:
        np.save(folder / "neighbour_embeddings.npy", self.embeddings, allow_pickle=False)
        np.save(folder / "neighbour_labels.npy", self.labels, allow_pickle=False)
        if self.graph is not None:
            self.graph.save(str(folder / INDEX_FILE))

    @classmethod
    def load(cls, folder: Path, settings: dict[str, Any], n_classes: int) -> NeighbourModel:
        graph: Any = None
        if settings.get("search") == "hnsw":
            try:
                from usearch.index import Index
            except ImportError:
                raise InvalidInput(f"this model looks up neighbours with usearch: {INSTALL_HINT}") from None
            graph = Index.restore(str(folder / INDEX_FILE))
            # usearch's file keeps the graph, not how wide a search looks: set it as trained.
            graph.expansion_search = int(settings.get("expansion_search", GRAPH["expansion_search"]))
            graph.expansion_add = int(settings.get("expansion_add", GRAPH["expansion_add"]))
        return cls(np.load(folder / "neighbour_embeddings.npy", allow_pickle=False),
                   np.load(folder / "neighbour_labels.npy", allow_pickle=False), n_classes,
                   int(settings["k"]), float(settings["temperature"]), graph)
