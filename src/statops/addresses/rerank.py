"""The re-ranker: field-by-field comparisons of a query with each candidate (rapidfuzz similarities,
strict number, suffix and postcode checks, the retrieval signals), scored by gradient-boosted trees
trained on the train queries; its score estimates P(this candidate is the address meant)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from rapidfuzz import fuzz
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import ThreadpoolController

from statops.addresses.candidates import Candidates
from statops.addresses.gazetteer import Facts, Gazetteer, Side
from statops.addresses.normalise import SUB_BUILDING_WORDS
from statops.addresses.trees import CompiledTrees
from statops.errors import InvalidInput

FEW_ROWS = 128  # up to this many candidate rows are scored by the compiled trees (trees.py); more, by
# scikit-learn, whose walk is faster per row once its checks on each call are shared by enough rows
NAME_AGREES = 80  # rapidfuzz ratio: below it two building names are different names, not one misspelt
_DIGITS = re.compile(r"[0-9]+")

FEATURES = (
    # numbers: a house, flat or range number must match exactly, suffix letter included (2A is not 2)
    "query_numbers", "candidate_numbers", "candidate_numbers_found", "candidate_numbers_missing",
    "query_numbers_unexplained", "suffix_conflicts", "building_number_found", "building_number_parsed_equal",
    "building_number_in_range", "sub_number_found", "sub_number_missing", "query_has_flat", "candidate_has_flat",
    "first_numbers_equal",
    # postcode: one that disagrees is strong evidence, one that does not exist is none
    "query_postcode", "candidate_postcode", "postcode_equal", "outward_equal", "sector_equal",
    "query_postcode_known", "postcode_disagrees",
    # words
    "token_set", "token_sort", "partial", "street_ratio", "street_in_query", "place_ratio", "town_in_query",
    "name_ratio", "name_in_query", "candidate_has_name", "query_name_parsed", "organisation_ratio",
    "sub_conflict", "sub_ratio", "name_conflict",
    "candidate_words_found", "query_words_found", "query_known_words_unexplained",
    # retrieval
    "bm25", "bm25_share", "bm25_rank", "vector_rank", "similarity", "similarity_gap", "blocked", "fused_rank",
    "candidates",
    # the candidate's building: how many addresses it holds, and whether this one is the building itself
    "building_size", "building_with_flats",
)


def _in_range(number: str, candidate_range: str) -> bool:
    """True when a plain number lies in a range like 12-14."""
    bounds = candidate_range.split("-")
    if len(bounds) != 2 or not number.isdigit():
        return False
    low, high = (_DIGITS.match(b) for b in bounds)
    return bool(low and high) and int(low.group()) <= int(number) <= int(high.group())  # type: ignore[union-attr]


def _ratio(scorer: Any, a: str, b: str) -> float:
    return scorer(a, b) / 100 if a and b else -1.0


def pair_features(query: Side, candidate: Side, postcode_known: bool, query_sub: str) -> list[float]:
    """The comparisons of one query with one candidate (retrieval signals are added by `features`).
    `query_sub` is the query's sub-building without its FLAT/UNIT words."""
    qf, cf = query.facts, candidate.facts
    q_set, c_set = query.number_set, candidate.number_set
    q_count = query.counts
    found = sum(min(k, q_count[n]) for n, k in candidate.counts.items())
    # a number whose digits match but whose suffix letter does not: 2A against 2, 14A against 14C
    suffix_conflicts = 0
    if q_set != c_set:
        suffix_conflicts = sum(1 for n in c_set - q_set if candidate.base_of[n] in query.bases) + \
            sum(1 for n in q_set - c_set if query.base_of[n] in candidate.bases)
    building, sub, sub_words = candidate.building, candidate.sub, candidate.sub_words
    query_words = qf.words
    sub_found = bool(sub_words) and all(w in query_words for w in sub_words)
    # both name a flat, and differently: FIRST FLOOR against GROUND FLOOR, 7 against 8
    sub_conflict = bool(query_sub) and bool(sub) and frozenset(query_sub.split()) != candidate.sub_word_set
    q_text, c_text = qf.text, cf.text
    c_name, q_name = candidate.name, query.name
    name_ratio = fuzz.ratio(q_name, c_name) if q_name and c_name else -100.0
    c_alpha, q_alpha = cf.alpha, qf.alpha
    q_postcode, c_postcode = qf.postcode, cf.postcode
    postcode_equal = bool(q_postcode) and q_postcode == c_postcode
    q_numbers, c_numbers = query.numbers, candidate.numbers
    c_street = candidate.street
    return [
        len(q_numbers), len(c_numbers), found, len(c_numbers) - found, len(q_numbers) - found, suffix_conflicts,
        float(bool(building) and building in q_set), float(bool(building) and query.building == building),
        float(any(_in_range(n, building) for n in q_numbers)) if "-" in building else 0.0,
        float(sub_found), float(bool(sub_words) and not sub_found), float(query.has_flat), float(bool(sub)),
        float(bool(q_numbers) and bool(c_numbers) and q_numbers[0] == c_numbers[0]),
        float(bool(q_postcode)), float(bool(c_postcode)), float(postcode_equal),
        float(bool(q_postcode) and qf.outward == cf.outward),
        float(bool(q_postcode) and qf.sector == cf.sector),
        float(postcode_known), float(postcode_known and bool(c_postcode) and not postcode_equal),
        fuzz.token_set_ratio(q_text, c_text) / 100, fuzz.token_sort_ratio(q_text, c_text) / 100,
        fuzz.partial_ratio(c_street, q_text) / 100 if c_street else -1.0,
        _ratio(fuzz.ratio, query.street, c_street),
        float(bool(c_street) and c_street in q_text),
        _ratio(fuzz.token_set_ratio, query.place, candidate.place),
        float(bool(candidate.town) and candidate.town in q_text),
        name_ratio / 100,
        fuzz.partial_ratio(c_name, q_text) / 100 if c_name else -1.0,
        float(bool(c_name)), float(bool(q_name)),
        _ratio(fuzz.ratio, query.organisation, candidate.organisation),
        float(sub_conflict), _ratio(fuzz.ratio, query_sub, sub),
        float(bool(q_name) and bool(c_name) and name_ratio < NAME_AGREES),
        len(c_alpha & q_alpha) / len(c_alpha) if c_alpha else 0.0,
        len(q_alpha & c_alpha) / len(q_alpha) if q_alpha else 0.0,
        0.0,
    ]


def features(query: Facts, candidates: Candidates, gazetteer: Gazetteer, postcode_known: bool) -> np.ndarray:
    """One row of FEATURES per candidate."""
    n = len(candidates.rows)
    if n == 0:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    known_words = query.alpha & gazetteer.vocabulary
    side = Side(query)
    query_sub = " ".join(w for w in query.fields["sub_building"].split() if w not in SUB_BUILDING_WORDS)
    rows = []
    for row in candidates.rows:
        candidate = gazetteer.side(row)
        values = pair_features(side, candidate, postcode_known, query_sub)
        values[-1] = len(known_words - candidate.facts.alpha)  # words the reference knows, elsewhere
        rows.append(values)
    top_bm25 = candidates.bm25.max() if n else 0.0
    size = gazetteer.building_size[candidates.rows]
    no_flat = np.array([not gazetteer.facts[row].fields["sub_building"] for row in candidates.rows])
    retrieval = np.column_stack([
        candidates.bm25, candidates.bm25 / top_bm25 if top_bm25 > 0 else np.zeros(n),
        candidates.bm25_rank, candidates.vector_rank, candidates.similarity,
        candidates.similarity - candidates.similarity.max(), candidates.blocked, np.arange(n, dtype=float),
        np.full(n, float(n)), np.log1p(size), (no_flat & (size > 1)).astype(float),
    ])
    return np.hstack([np.asarray(rows, dtype=np.float32), retrieval.astype(np.float32)])


@cache
def _controller() -> ThreadpoolController:
    """Finding the loaded thread pools reads the process's memory map: once, not per call."""
    return ThreadpoolController()


def _one_openmp_thread() -> Any:
    return _controller().limit(limits=1, user_api="openmp")


class Reranker:
    """Gradient-boosted trees over FEATURES: P(candidate is right)."""

    def __init__(self, model: HistGradientBoostingClassifier) -> None:
        self.model = model
        self.trees = CompiledTrees(model)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, seed: int = 0) -> Reranker:
        """Fit on candidate rows (y = 1 for the query's true address)."""
        if len(set(y.tolist())) < 2:
            raise InvalidInput("training the re-ranker needs queries whose true address is among its candidates")
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_leaf_nodes=31,
                                               min_samples_leaf=20, l2_regularization=1.0, random_state=seed,
                                               early_stopping=False)
        # one thread: OpenMP's threads spin against each other on a small, busy machine
        with _one_openmp_thread():
            model.fit(x, y)
        return cls(model)

    def score(self, x: np.ndarray) -> np.ndarray:
        """P(right) of each candidate row."""
        if len(x) == 0:
            return np.zeros(0)
        if len(x) <= FEW_ROWS:  # one query's candidates: numpy's walk has no per-call checks
            return self.trees.probability(x)
        with _one_openmp_thread():  # a batch: scikit-learn's compiled walk is the faster per row
            return self.model.predict_proba(x)[:, 1]

    def save(self, path: Path) -> None:
        """skops file."""
        sio.dump(self.model, path)

    @classmethod
    def load(cls, path: Path) -> Reranker:
        """Read a skops file; refuses types outside scikit-learn's and numpy's own (skops does not
        list the boosted trees' own TreePredictor as trusted, so scikit-learn's types are named)."""
        untrusted = sio.get_untrusted_types(file=path)
        foreign = [t for t in untrusted if not t.startswith("sklearn.")]
        if foreign:
            raise InvalidInput(f"{path} holds types that are not trusted: {', '.join(foreign)}")
        return cls(sio.load(path, trusted=untrusted))
