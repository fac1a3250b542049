"""One pass of matching over a batch of normalised queries: parse, look up, search, fuse, compare,
re-rank. Shared by training (which needs the comparisons) and prediction (which needs the ranking)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from statops.addresses.candidates import Candidates, TextIndex, VectorIndex, fuse
from statops.addresses.embedding import AddressEncoder
from statops.addresses.gazetteer import Facts, Gazetteer, query_facts
from statops.addresses.parser import AddressParser
from statops.addresses.rerank import FEATURES, Reranker, features

RANK_CHUNK = 256


@dataclass
class Prepared:
    """A batch of queries with their candidates and the candidates' comparison features."""

    facts: list[Facts]
    candidates: list[Candidates]
    features: list[np.ndarray]


@dataclass
class Ranked:
    """One query's candidates, best first, with the re-ranker's scores and the top one's features."""

    rows: list[int]
    scores: np.ndarray
    top_features: np.ndarray  # zeros when there is no candidate


class Matcher:
    """The reference and everything built from it, and the trained parser and re-ranker."""

    def __init__(self, gazetteer: Gazetteer, parser: AddressParser, encoder: AddressEncoder, text_index: TextIndex,
                 vector_index: VectorIndex, reranker: Reranker | None = None) -> None:
        self.gazetteer = gazetteer
        self.parser = parser
        self.encoder = encoder
        self.text_index = text_index
        self.vector_index = vector_index
        self.reranker = reranker

    def prepare(self, normalised: list[str]) -> Prepared:
        """Parse, search and compare each normalised query (an empty one has no candidates)."""
        g = self.gazetteer
        facts = [query_facts(text, self.parser.parse_normalised(text)) for text in normalised]
        vectors = self.encoder.encode(normalised)
        neighbours = self.vector_index.search(vectors)
        candidates, rows = [], []
        for i, query in enumerate(facts):
            if not query.words:
                found = fuse([], [], [], [], vectors[i], self.vector_index.vectors)
            else:
                bm25_rows, bm25_scores = self.text_index.search(query, g.vocabulary)
                found = fuse(bm25_rows, bm25_scores, neighbours[i], g.blocked(query), vectors[i],
                             self.vector_index.vectors)
            candidates.append(found)
            known = bool(query.postcode) and query.postcode in g.known_postcodes
            rows.append(features(query, found, g, known))
        return Prepared(facts, candidates, rows)

    def rank(self, normalised: list[str]) -> list[Ranked]:
        """Each query's candidates ordered by the re-ranker (a large batch in chunks: its working
        arrays stay small)."""
        if self.reranker is None:
            raise RuntimeError("the matcher has no re-ranker yet")
        if len(normalised) > RANK_CHUNK:
            return [r for i in range(0, len(normalised), RANK_CHUNK) for r in self.rank(normalised[i:i + RANK_CHUNK])]
        prepared = self.prepare(normalised)
        sizes = [len(x) for x in prepared.features]
        stacked = np.vstack(prepared.features) if sum(sizes) else np.zeros((0, len(FEATURES)), dtype=np.float32)
        scores = np.split(self.reranker.score(stacked), np.cumsum(sizes)[:-1]) if sizes else []
        out = []
        for found, x, s in zip(prepared.candidates, prepared.features, scores, strict=True):
            order = np.argsort(-s, kind="stable")
            top = x[order[0]] if len(order) else np.zeros(len(FEATURES), dtype=np.float32)
            out.append(Ranked([found.rows[j] for j in order], s[order], top))
        return out
