"""Address embeddings trained here, with no downloaded model: character n-gram TF-IDF projected by
a truncated SVD to a few dozen dimensions and scaled to unit length; typos and run-together words
move an address only a little in this space, where they break a word-level index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import skops.io as sio
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

from statops.errors import InvalidInput

DIMENSIONS = 96
FIT_SAMPLE = 40_000  # the projection is learnt on a sample: cheaper, and as good for a gazetteer
FEW = 16  # batches up to this size are projected text by text (see `_project_one`)
WORD_CACHE = 200_000


class AddressEncoder:
    """Normalised address text -> unit-length float32 vectors."""

    def __init__(self, vectoriser: TfidfVectorizer, projection: TruncatedSVD) -> None:
        self.vectoriser = vectoriser
        self.projection = projection
        # the projection as one float32 matrix: a product per batch, not sklearn's checks per call
        self._components = np.ascontiguousarray(projection.components_.astype(np.float32).T)  # scipy copies
        # a non-contiguous dense operand on every sparse product
        self._analyser = vectoriser.build_analyzer()
        self._vocabulary: dict[str, int] = vectoriser.vocabulary_
        self._idf = vectoriser.idf_.astype(np.float32)
        self._words: dict[str, tuple[int, ...]] = {}

    @property
    def dimensions(self) -> int:
        return int(self._components.shape[1])

    @classmethod
    def fit(cls, texts: Sequence[str], seed: int = 0, dimensions: int = DIMENSIONS) -> AddressEncoder:
        """Learn the n-gram weights and the projection from (a seeded sample of) the texts."""
        rng = np.random.default_rng(seed)
        sample = list(texts)
        if len(sample) > FIT_SAMPLE:
            sample = [sample[i] for i in np.sort(rng.choice(len(sample), FIT_SAMPLE, replace=False))]
        vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True,
                                     lowercase=False, dtype=np.float32)
        x = vectoriser.fit_transform(sample)
        k = max(2, min(dimensions, x.shape[1] - 1, x.shape[0] - 1))
        projection = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=4, random_state=seed)
        with threadpool_limits(limits=1):  # BLAS threads spin against each other on a small, busy machine
            projection.fit(x)
        return cls(vectoriser, projection)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimensions) float32, each row of unit length (zero for an empty text)."""
        if len(texts) == 0:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if len(texts) <= FEW:
            vectors = np.vstack([self._project_one(t) for t in texts])
        else:
            vectors = np.asarray(self._weights(texts) @ self._components, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def _word_columns(self, word: str) -> tuple[int, ...]:
        """The vocabulary columns of one word's n-grams, with repeats. The vectoriser's n-grams
        (char_wb) never cross a space, so a text's are its words' together: each word is analysed
        once per process, not once per text it is in."""
        found = self._words.get(word)
        if found is None:
            vocabulary = self._vocabulary
            found = tuple(vocabulary[g] for g in self._analyser(word) if g in vocabulary)
            if len(self._words) > WORD_CACHE:  # bounded: a long-running server sees endless new words
                self._words.clear()
            self._words[word] = found
        return found

    def _counts(self, text: str) -> Counter[int]:
        counts: Counter[int] = Counter()
        for word in text.split():
            counts.update(self._word_columns(word))
        return counts

    def _weights(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Sublinear TF times IDF of each text's n-grams, as rows (not scaled to unit length: the
        projection is, afterwards). The n-gram counts are (texts x words) @ (words x n-grams), over the
        batch's distinct words."""
        position: dict[str, int] = {}
        word_ids: list[int] = []
        indptr = [0]
        for text in texts:
            word_ids.extend(position.setdefault(w, len(position)) for w in text.split())
            indptr.append(len(word_ids))
        per_text = sp.csr_matrix((np.ones(len(word_ids), dtype=np.float32), np.asarray(word_ids, dtype=np.intp),
                                  np.asarray(indptr, dtype=np.intp)), shape=(len(texts), len(position)))
        columns = [self._word_columns(w) for w in position]
        word_indptr = np.zeros(len(columns) + 1, dtype=np.intp)
        np.cumsum([len(c) for c in columns], out=word_indptr[1:])
        word_columns = np.fromiter(chain.from_iterable(columns), dtype=np.intp, count=int(word_indptr[-1]))
        per_word = sp.csr_matrix((np.ones(len(word_columns), dtype=np.float32), word_columns, word_indptr),
                                 shape=(len(columns), len(self._idf)))
        counts = (per_text @ per_word).tocsr()
        counts.data = (1.0 + np.log(counts.data)) * self._idf[counts.indices]
        return counts

    def _project_one(self, text: str) -> np.ndarray:
        """One text's projection without building a sparse matrix."""
        found = self._counts(text)
        if not found:
            return np.zeros(self.dimensions, dtype=np.float32)
        index = np.fromiter(found.keys(), dtype=np.intp, count=len(found))
        weights = (1.0 + np.log(np.fromiter(found.values(), dtype=np.float32, count=len(found)))) * self._idf[index]
        return np.asarray(weights @ self._components[index], dtype=np.float32)

    def save(self, path: Path) -> None:
        """The vectoriser and the projection in one skops file."""
        sio.dump({"vectoriser": self.vectoriser, "projection": self.projection}, path)

    @classmethod
    def load(cls, path: Path) -> AddressEncoder:
        """Read a skops file written by `save`; refuses types outside scikit-learn's and numpy's own."""
        untrusted = sio.get_untrusted_types(file=path)
        if untrusted:
            raise InvalidInput(f"{path} holds types that are not trusted: {', '.join(untrusted)}")
        parts = sio.load(path, trusted=[])
        return cls(parts["vectoriser"], parts["projection"])
