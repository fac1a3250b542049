"""Character n-gram TF-IDF without scikit-learn's per-text analyser, for any task that embeds or
classifies text by a fitted `TfidfVectorizer(analyzer="char_wb")`.

scikit-learn cuts every text into n-grams in Python, one text at a time (tens of µs a text). A
`char_wb` vectoriser never lets an n-gram cross a space (it pads each word with spaces), so a text's
n-grams are its words' n-grams put together: `WordNgrams` keeps each distinct word's columns,
computed once by the vectoriser's own analyser, and `sublinear_tfidf` turns the columns of a batch
into the matrix with whole-array numpy operations. The coder's features (statops.coding.tokens) and
the address embedding (statops.addresses.embedding) both build on these.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

CACHE_WORDS = 500_000  # words kept; a new word past this clears the cache (bounded memory in a server)


class WordNgrams:
    """The vocabulary columns of each word's character n-grams (repeats kept), cached per word."""

    def __init__(self, vectoriser: TfidfVectorizer) -> None:
        self._analyser = vectoriser.build_analyzer()
        self._vocabulary: dict[str, int] = vectoriser.vocabulary_
        self.idf = np.asarray(vectoriser.idf_, dtype=np.float32)
        self._words: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self._words)

    def columns(self, word: str) -> list[int]:
        """One word's n-gram columns, analysed once per process (the list is shared: do not change it)."""
        cached = self._words.get(word)
        if cached is None:
            if len(self._words) >= CACHE_WORDS:
                self._words.clear()
            vocabulary = self._vocabulary
            cached = self._words[word] = [vocabulary[g] for g in self._analyser(word) if g in vocabulary]
        return cached

    def text_columns(self, text: str) -> list[int]:
        """A text's n-gram columns: its words' together."""
        found: list[int] = []
        for word in text.split():
            found.extend(self.columns(word))
        return found

    def batch(self, texts: list[str], unit_rows: bool = True) -> sp.csr_matrix:
        """The sublinear TF-IDF rows of `texts`, as the fitted vectoriser's `transform` gives them (to
        float rounding); with `unit_rows` False, not scaled to unit length."""
        columns: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            found = self.text_columns(text)
            columns.extend(found)
            lengths[row] = len(found)
        return sublinear_tfidf(columns, lengths, self.idf, unit_rows)


def sublinear_tfidf(columns: list[int], lengths: np.ndarray, idf: np.ndarray,
                    unit_rows: bool = True) -> sp.csr_matrix:
    """Counts of `columns` per row (`lengths[i]` of them for row i), then (1 + log count) * idf, each
    row scaled to unit length with `unit_rows` (float32)."""
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    counts = sp.csr_matrix((np.ones(len(columns), dtype=np.float32), np.asarray(columns, dtype=np.int32),
                            indptr), shape=(len(lengths), len(idf)))
    counts.sum_duplicates()
    data = counts.data
    np.log(data, out=data)
    data += 1.0
    data *= idf[counts.indices]
    if unit_rows:
        squares = np.zeros(len(lengths), dtype=np.float64)
        filled = np.diff(counts.indptr) > 0
        if filled.any():
            squares[filled] = np.add.reduceat((data.astype(np.float64)) ** 2, counts.indptr[:-1][filled])
        norms = np.sqrt(squares)
        norms[norms == 0] = 1.0
        data /= np.repeat(norms, np.diff(counts.indptr)).astype(np.float32)
    return counts
