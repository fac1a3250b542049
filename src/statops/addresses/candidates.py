"""Candidate addresses for a query: BM25 from an embedded tantivy index over the parsed fields and
the whole address, nearest neighbours of the address embedding in a usearch index, and the block
lookups (same postcode, same building); fused by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tantivy
from usearch.index import Index as UsearchIndex

from statops.addresses.gazetteer import Facts, Gazetteer
from statops.addresses.normalise import words

BM25_LIMIT = 30
VECTOR_LIMIT = 20
MAX_CANDIDATES = 30
RRF_K = 60  # reciprocal rank fusion's constant: ranks beyond the first few count about the same
MISSING_RANK = 100
FUZZY_MIN_LENGTH = 5
# Field boosts: a parsed field matched in its own field counts more than a word anywhere.
BOOSTS = {"street": 2.0, "place": 1.0, "number": 2.0, "postcode": 3.0, "name": 1.0}
HEAP_BYTES = 200_000_000


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Our own normalisation has run: split on spaces only, keep 12-14 and 14A whole; positions unused.
    for name in ("whole", "street", "place", "number", "postcode", "name"):
        builder.add_text_field(name, tokenizer_name="whitespace", index_option="freq")
    builder.add_integer_field("row", fast=True)
    return builder.build()


def _document(row: int, facts: Facts) -> tantivy.Document:
    f = facts.fields
    postcode = f"{facts.postcode.replace(' ', '')} {facts.outward} {facts.sector.replace(' ', '')}" \
        if facts.postcode else ""
    return tantivy.Document(
        row=row, whole=" ".join(words(facts.normalised)), street=f["street"],
        place=f"{f['locality']} {f['town']}", number=" ".join(facts.numbers), postcode=postcode,
        name=f"{f['organisation']} {f['building_name']} {f['sub_building']}",
    )


class TextIndex:
    """BM25 search over the reference (tantivy, in RAM or in a directory)."""

    def __init__(self, index: tantivy.Index) -> None:
        self.index = index
        self.schema = index.schema
        index.reload()
        self.searcher = index.searcher()

    @classmethod
    def build(cls, gazetteer: Gazetteer, folder: Path | None = None) -> TextIndex:
        """Index every reference row, in RAM or in `folder`; one writer thread, so the same
        reference always gives the same index."""
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(_schema(), path=None if folder is None else str(folder), reuse=False)
        writer = index.writer(heap_size=HEAP_BYTES, num_threads=1)
        for row, facts in enumerate(gazetteer.facts):
            writer.add_document(_document(row, facts))
        writer.commit()
        writer.wait_merging_threads()
        return cls(index)

    @classmethod
    def open(cls, folder: Path) -> TextIndex:
        """Open an index written by `build(folder=...)`."""
        return cls(tantivy.Index.open(str(folder)))

    def query(self, facts: Facts, vocabulary: frozenset[str]) -> tantivy.Query:
        """Every query word should match the whole address (fuzzily when the reference does not
        know it: a typo); parsed fields should match their own fields."""
        schema, term, occur = self.schema, tantivy.Query.term_query, tantivy.Occur.Should
        clauses = []
        for word in sorted(facts.words):
            if word in vocabulary or len(word) < FUZZY_MIN_LENGTH or not word.isalpha():
                clauses.append((occur, term(schema, "whole", word)))
            else:
                clauses.append((occur, tantivy.Query.fuzzy_term_query(schema, "whole", word, distance=1)))
        f = facts.fields
        boosted = [("street", f.get("street", "").split()),
                   ("place", f"{f.get('locality', '')} {f.get('town', '')}".split()),
                   ("number", list(facts.numbers)),
                   ("name", f"{f.get('organisation', '')} {f.get('building_name', '')}".split())]
        if facts.postcode:
            boosted.append(("postcode", [facts.postcode.replace(" ", ""), facts.outward,
                                         facts.sector.replace(" ", "")]))
        for field, values in boosted:
            for value in dict.fromkeys(values):
                if value in vocabulary or field == "postcode":
                    clauses.append((occur, tantivy.Query.boost_query(term(schema, field, value), BOOSTS[field])))
        return tantivy.Query.boolean_query(clauses)

    def search(self, facts: Facts, vocabulary: frozenset[str],
               limit: int = BM25_LIMIT) -> tuple[list[int], list[float]]:
        """The best rows by BM25 and their scores."""
        if not facts.words:
            return [], []
        hits = self.searcher.search(self.query(facts, vocabulary), limit, count=False).hits
        if not hits:
            return [], []
        rows = self.searcher.fast_field_values("row", [address for _, address in hits])
        return [int(r) for r in rows], [float(score) for score, _ in hits]  # type: ignore[arg-type]


class VectorIndex:
    """Approximate nearest neighbours of unit-length embeddings (usearch HNSW, cosine)."""

    def __init__(self, index: UsearchIndex, vectors: np.ndarray) -> None:
        self.index = index
        self.vectors = vectors

    @classmethod
    def build(cls, vectors: np.ndarray) -> VectorIndex:
        """Index rows 0..n-1; one thread, so the same vectors always give the same graph."""
        index = UsearchIndex(ndim=vectors.shape[1], metric="cos", dtype="f32", connectivity=12,
                             expansion_add=48, expansion_search=64)
        if len(vectors):
            index.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=1)
        return cls(index, vectors)

    def save(self, path: Path) -> None:
        """usearch's own file."""
        self.index.save(str(path))

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read usearch's own file; the vectors come back from it."""
        index = UsearchIndex.restore(str(path), view=False)
        if index is None:
            raise ValueError(f"{path} is not a usearch index")
        vectors = np.asarray(index.get(np.arange(len(index), dtype=np.uint64)), dtype=np.float32)
        return cls(index, vectors.reshape(len(index), index.ndim))

    def search(self, queries: np.ndarray, limit: int = VECTOR_LIMIT) -> list[list[int]]:
        """The nearest rows of each query vector (a zero vector has none)."""
        if len(queries) == 0 or len(self.vectors) == 0:
            return [[] for _ in range(len(queries))]
        matches = self.index.search(queries, min(limit, len(self.vectors)), threads=1)
        keys = np.atleast_2d(matches.keys)
        # one query gives usearch's Matches (its hits, no counts); several give BatchMatches
        counts = np.atleast_1d(matches.counts) if hasattr(matches, "counts") else np.array([len(matches.keys)])
        empty = np.asarray(~queries.any(axis=1), dtype=bool)
        return [[] if empty[i] else [int(k) for k in keys[i, :counts[i]]] for i in range(len(queries))]


@dataclass
class Candidates:
    """One query's candidate rows, best fused first, with each one's retrieval signals."""

    rows: list[int]
    bm25: np.ndarray  # score (0 where BM25 did not find it)
    bm25_rank: np.ndarray
    vector_rank: np.ndarray
    similarity: np.ndarray  # cosine of the embeddings
    blocked: np.ndarray  # 1.0 where a block lookup (postcode, building) found it
    fused: np.ndarray


def fuse(bm25_rows: Sequence[int], bm25_scores: Sequence[float], vector_rows: Sequence[int], blocked: Sequence[int],
         query_vector: np.ndarray, vectors: np.ndarray, limit: int = MAX_CANDIDATES) -> Candidates:
    """Reciprocal rank fusion of the BM25 and vector lists, with the blocked rows after them."""
    score: dict[int, float] = {}
    for rank, row in enumerate(bm25_rows):
        score[row] = score.get(row, 0.0) + 1.0 / (RRF_K + rank)
    for rank, row in enumerate(vector_rows):
        score[row] = score.get(row, 0.0) + 1.0 / (RRF_K + rank)
    block_set = set(blocked)
    for row in block_set:
        score[row] = score.get(row, 0.0) + 1.0 / (RRF_K + BM25_LIMIT)
    rows = sorted(score, key=lambda r: (-score[r], r))[:limit]
    bm25_rank = {r: i for i, r in enumerate(bm25_rows)}
    vector_rank = {r: i for i, r in enumerate(vector_rows)}
    bm25_score = dict(zip(bm25_rows, bm25_scores, strict=True))
    similarity = vectors[rows] @ query_vector if rows else np.zeros(0, dtype=np.float32)
    return Candidates(
        rows=rows,
        bm25=np.array([bm25_score.get(r, 0.0) for r in rows]),
        bm25_rank=np.array([bm25_rank.get(r, MISSING_RANK) for r in rows], dtype=float),
        vector_rank=np.array([vector_rank.get(r, MISSING_RANK) for r in rows], dtype=float),
        similarity=np.asarray(similarity, dtype=float),
        blocked=np.array([1.0 if r in block_set else 0.0 for r in rows]),
        fused=np.array([score[r] for r in rows]),
    )
