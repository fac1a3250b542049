"""Address embeddings trained here, with no downloaded model: character n-gram TF-IDF projected by
a truncated SVD to a few dozen dimensions and scaled to unit length; typos and run-together words
move an address only a little in this space, where they break a word-level index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

from statops.errors import InvalidInput
from statops.ngrams import WordNgrams

DIMENSIONS = 96
FIT_SAMPLE = 40_000  # the projection is learnt on a sample: cheaper, and as good for a gazetteer
FEW = 16  # batches up to this size are projected text by text (see `_project_one`)


class AddressEncoder:
    """Normalised address text -> unit-length float32 vectors."""

    def __init__(self, vectoriser: TfidfVectorizer, projection: TruncatedSVD) -> None:
        self.vectoriser = vectoriser
        self.projection = projection
        # the projection as one float32 matrix: a product per batch, not sklearn's checks per call
        self._components = np.ascontiguousarray(projection.components_.astype(np.float32).T)  # scipy copies
        # a non-contiguous dense operand on every sparse product
        self._ngrams = WordNgrams(vectoriser)  # each word's n-grams analysed once (statops.ngrams)

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
            # not scaled to unit length before the projection: the result is, afterwards
            vectors = np.asarray(self._ngrams.batch(list(texts), unit_rows=False) @ self._components,
                                 dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def _project_one(self, text: str) -> np.ndarray:
        """One text's projection without building a sparse matrix."""
        found = Counter(self._ngrams.text_columns(text))
        if not found:
            return np.zeros(self.dimensions, dtype=np.float32)
        index = np.fromiter(found.keys(), dtype=np.intp, count=len(found))
        counts = np.fromiter(found.values(), dtype=np.float32, count=len(found))
        weights = (1.0 + np.log(counts)) * self._ngrams.idf[index]
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
