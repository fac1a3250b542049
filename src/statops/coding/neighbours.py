"""A nearest-neighbour model over the training records' sentence embeddings.

Each record's class distribution is the softmax-weighted vote of its k most similar training
records (cosine similarity of unit-length embeddings). It is pooled with the linear classifier in
log space. Its signals (how much of the vote the top code got, how similar the nearest training
record of the top code is) feed the confidence model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Queries per similarity block: CHUNK x training records float32 at a time. Small enough for the
# block to stay in cache while it is ranked (1,024 took twice as long as 256 with 20k records).
CHUNK = 256


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

    def neighbourhood(self, queries: np.ndarray) -> Neighbourhood:
        n, k = len(queries), min(self.k, len(self.embeddings))
        probabilities = np.zeros((n, self.n_classes), dtype=np.float32)
        neighbours = np.zeros((n, k), dtype=np.int64)
        similarities = np.zeros((n, k), dtype=np.float32)
        for start in range(0, n, CHUNK):
            block = queries[start:start + CHUNK] @ self.embeddings.T
            nearest = np.argpartition(block, -k, axis=1)[:, -k:] if k < block.shape[1] else \
                np.tile(np.arange(block.shape[1]), (len(block), 1))
            sims = np.take_along_axis(block, nearest, axis=1)
            votes = np.exp((sims - sims.max(axis=1, keepdims=True)) / np.float32(self.temperature))
            votes /= votes.sum(axis=1, keepdims=True)
            rows = np.repeat(np.arange(start, start + len(block)), k)
            np.add.at(probabilities, (rows, self.labels[nearest].ravel()), votes.ravel())
            neighbours[start:start + len(block)] = nearest
            similarities[start:start + len(block)] = sims
        empty = ~np.any(queries, axis=1)  # an empty text has no neighbours
        probabilities[empty] = 0.0
        similarities[empty] = 0.0
        return Neighbourhood(probabilities, neighbours, similarities)

    def settings(self) -> dict[str, Any]:
        return {"k": self.k, "temperature": self.temperature, "records": len(self.labels)}

    def save(self, folder: Path) -> None:
        np.save(folder / "neighbour_embeddings.npy", self.embeddings, allow_pickle=False)
        np.save(folder / "neighbour_labels.npy", self.labels, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, settings: dict[str, Any], n_classes: int) -> NeighbourModel:
        return cls(np.load(folder / "neighbour_embeddings.npy", allow_pickle=False),
                   np.load(folder / "neighbour_labels.npy", allow_pickle=False), n_classes,
                   int(settings["k"]), float(settings["temperature"]))
