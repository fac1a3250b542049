"""What the text signals read from texts: word tokens (for the vocabulary and the out-of-vocabulary
rate) and a task-agnostic featuriser for the text-drift classifier."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import sparse

WORD = r"(?u)\b\w+\b"
MAX_VOCABULARY = 200_000


def words(texts: pd.Series) -> pd.Series:
    """Each text's lower-cased word tokens, one row per token, indexed by the text's position."""
    return texts.reset_index(drop=True).str.lower().str.findall(WORD).explode().dropna()


def vocabulary(texts: Iterable[str], limit: int = MAX_VOCABULARY) -> list[str]:
    """The `limit` most frequent lower-cased word tokens of `texts`."""
    counts: Counter[str] = Counter()
    for tokens in pd.Series(list(texts), dtype=object).astype(str).str.lower().str.findall(WORD):
        counts.update(tokens)
    return [word for word, _ in counts.most_common(limit)]


def out_of_vocabulary(texts: pd.Series, known: frozenset[str] | set[str]) -> np.ndarray:
    """Per text, the share of its word tokens not in `known` (NaN for a text with no word)."""
    tokens = words(texts)
    shares = np.full(len(texts), np.nan)
    if tokens.empty:
        return shares
    unknown = (~tokens.isin(known)).groupby(level=0).mean()
    shares[unknown.index.to_numpy(dtype=int)] = unknown.to_numpy(dtype=float)
    return shares


def drift_features(texts: list[str]) -> sparse.csr_matrix:
    """Character 2-4-grams within word boundaries, hashed: needs no fitting, so the same features serve
    every model and every task. Once the task interface offers a model's own features, they can replace
    these (the issue asks for the model's features; hashed n-grams are close to the coder's TF-IDF)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectoriser = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=2**18,
                                   alternate_sign=False, norm="l2", lowercase=True)
    return vectoriser.transform(texts).tocsr()
