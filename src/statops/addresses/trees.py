"""The fitted gradient-boosted trees evaluated all at once with numpy, by the bit-vector method of
QuickScorer (Lucchese et al., 2015): every split of every tree is tested against every row in one
comparison; a split whose test sends a row right rules out the leaves of its left subtree, held as
one bit each in a 32-bit word per tree; the row's leaf in a tree is the leftmost leaf no failed test
ruled out. scikit-learn walks the trees one at a time and checks its input on each call, which costs
more than the trees themselves for the few dozen candidates of one query."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

CHUNK_ROWS = 64  # rows x splits working arrays: bounded, and kept in cache
MAX_LEAVES = 32  # one bit per leaf in a uint32 (the re-ranker has at most 31)
_ALL = np.uint32(0xFFFF_FFFF)


def _leaf_order(nodes: np.ndarray) -> tuple[list[int], dict[int, list[int]]]:
    """The tree's leaves left to right, and the leaf positions under each split's left child."""
    leaves: list[int] = []
    under: dict[int, list[int]] = {}

    def walk(node: int) -> list[int]:
        if nodes["is_leaf"][node]:
            leaves.append(node)
            return [len(leaves) - 1]
        left = walk(int(nodes["left"][node]))
        right = walk(int(nodes["right"][node]))
        under[node] = left
        return left + right

    walk(0)
    return leaves, under


class CompiledTrees:
    """A binary HistGradientBoostingClassifier's trees as flat arrays (numerical features only)."""

    def __init__(self, model: HistGradientBoostingClassifier) -> None:
        trees = [per_iteration[0].nodes for per_iteration in model._predictors]
        if any(t["is_categorical"].any() for t in trees) or len(model._predictors[0]) != 1:
            raise ValueError("only binary models on numerical features can be compiled")
        self.baseline = float(np.asarray(model._baseline_prediction).ravel()[0])
        feature, threshold, missing_left, masks, starts = [], [], [], [], []
        values: list[np.ndarray] = []
        for nodes in trees:
            leaves, under = _leaf_order(nodes)
            if len(leaves) > MAX_LEAVES:
                raise ValueError(f"a tree with {len(leaves)} leaves does not fit {MAX_LEAVES} bits")
            if not under:  # a single leaf: a constant
                self.baseline += float(nodes["value"][leaves[0]])
                continue
            starts.append(len(feature))
            for split, ruled_out in sorted(under.items()):
                feature.append(int(nodes["feature_idx"][split]))
                threshold.append(float(nodes["num_threshold"][split]))
                missing_left.append(bool(nodes["missing_go_to_left"][split]))
                bits = 0
                for position in ruled_out:
                    bits |= 1 << position
                masks.append(~np.uint32(bits))
            row = np.zeros(MAX_LEAVES)
            row[:len(leaves)] = nodes["value"][leaves]
            values.append(row)
        # one row per split: the working arrays are splits x rows, each split's row contiguous
        self.feature = np.array(feature, dtype=np.intp)
        self.threshold = np.array(threshold, dtype=np.float64)[:, None]
        self.missing_left = np.array(missing_left, dtype=bool)[:, None]
        self.mask = np.array(masks, dtype=np.uint32)[:, None]
        self.starts = np.array(starts, dtype=np.intp)
        self.values = np.array(values).reshape(len(values), MAX_LEAVES)
        self._tree = np.arange(len(starts), dtype=np.intp)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The sum of the trees' leaf values plus the baseline (log-odds) per row."""
        x = np.asarray(x, dtype=np.float64)
        if len(x) > CHUNK_ROWS:
            return np.concatenate([self.raw(x[i:i + CHUNK_ROWS]) for i in range(0, len(x), CHUNK_ROWS)])
        if not len(self.starts):
            return np.full(len(x), self.baseline)
        tested = np.ascontiguousarray(x.T)[self.feature]
        go_left = tested <= self.threshold
        if np.isnan(x).any():
            go_left = np.where(np.isnan(tested), self.missing_left, go_left)
        # a split passed keeps every leaf (all bits set), a split failed keeps only its mask's
        kept = self.mask | (go_left.view(np.uint8).astype(np.uint32) * _ALL)
        alive = np.bitwise_and.reduceat(kept, self.starts, axis=0)
        lowest = alive & (~alive + np.uint32(1))  # the leftmost leaf left alive, as its own bit
        leaf = np.log2(lowest.astype(np.float64)).astype(np.intp)
        return self.values[self._tree[:, None], leaf].sum(axis=0) + self.baseline

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(class 1) per row."""
        return 1.0 / (1.0 + np.exp(-self.raw(x)))
