"""Training an address matcher: the parser from the reference itself, the indexes, the re-ranker on
the train queries, the confidence model and the threshold on dev queries (out of fold)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from statops.addresses.candidates import TextIndex, VectorIndex
from statops.addresses.confidence import ConfidenceModel, signals, threshold_for_out_of_reference
from statops.addresses.derive import derive
from statops.addresses.embedding import AddressEncoder
from statops.addresses.evaluation import AddressEvaluation, evaluate_matches
from statops.addresses.fields import check_reference
from statops.addresses.gazetteer import Gazetteer
from statops.addresses.matching import Matcher, Ranked
from statops.addresses.model import AddressModel
from statops.addresses.normalise import normalise
from statops.addresses.parser import AddressParser, label_quality
from statops.addresses.rerank import Reranker
from statops.coding.metrics import threshold_for_accuracy
from statops.errors import InvalidInput
from statops.tasks import ProgressCallback

PARSER_SEQUENCES = 30_000  # at most; twice the reference when it is smaller
PARSER_HELD_OUT = 2_000
MIN_QUERIES = 10


@dataclass(frozen=True)
class MatcherOptions:
    seed: int = 0
    target_precision: float = 0.99
    dev_share: float = 0.2  # of the train queries held out for calibration when no dev is given
    top_k: int = 5

    def check(self) -> None:
        if not 0.0 < self.target_precision <= 1.0:
            raise InvalidInput(f"target_precision must be in (0, 1], got {self.target_precision}")
        if not 0.0 < self.dev_share < 1.0:
            raise InvalidInput(f"dev_share must be in (0, 1), got {self.dev_share}")
        if self.top_k < 1:
            raise InvalidInput(f"top_k must be at least 1, got {self.top_k}")


def matcher_options(options: Mapping[str, Any] | None) -> MatcherOptions:
    """The matcher's options by name; an unknown name is an InvalidInput naming it."""
    options = dict(options or {})
    known = {f.name for f in fields(MatcherOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidInput(f"task addresses has no option {', '.join(unknown)}; "
                           f"its options: {', '.join(sorted(known))}")
    parsed = MatcherOptions(**options)
    parsed.check()
    return parsed


def _noop(stage: str, fraction: float) -> None:
    return None


def _texts(values: pd.Series | Sequence[str]) -> list[str]:
    return [v if isinstance(v, str) else "" for v in (values.tolist() if isinstance(values, pd.Series) else values)]


def _ids(values: pd.Series | Sequence[str]) -> list[str]:
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()
            for v in (values.tolist() if isinstance(values, pd.Series) else values)]


def build_matcher(reference: pd.DataFrame, seed: int, report: ProgressCallback) -> tuple[Matcher, dict]:
    """The parser, the embeddings and both indexes from a checked reference; the parser's quality
    per label on held-out derived strings."""
    gazetteer = Gazetteer(reference)
    report("parser", 0.05)
    count = min(PARSER_SEQUENCES, 2 * len(reference))
    held_out = min(PARSER_HELD_OUT, count // 4)
    sequences = derive(reference, count + held_out, seed)
    parser = AddressParser.fit(sequences[held_out:], seed)
    quality = label_quality(parser, sequences[:held_out])
    report("embeddings", 0.3)
    whole = [f.normalised for f in gazetteer.facts]
    encoder = AddressEncoder.fit(whole, seed)
    vectors = encoder.encode(whole)
    report("indexes", 0.35)
    matcher = Matcher(gazetteer, parser, encoder, TextIndex.build(gazetteer), VectorIndex.build(vectors))
    return matcher, quality


def fit_matcher(reference: pd.DataFrame, train_texts: pd.Series | Sequence[str], train_ids: pd.Series | Sequence[str],
                dev_texts: pd.Series | Sequence[str] | None = None, dev_ids: pd.Series | Sequence[str] | None = None,
                options: Mapping[str, Any] | None = None,
                progress: ProgressCallback | None = None) -> tuple[AddressModel, AddressEvaluation]:
    """Train a matcher on a reference and labelled queries (id "" = not in the reference); its
    evaluation on the dev queries (or a held-out share of the train queries) with out-of-fold confidence."""
    settings = matcher_options(options)
    report = progress or _noop
    started = time.perf_counter()
    reference = check_reference(reference)
    texts, ids = _texts(train_texts), _ids(train_ids)
    if len(texts) != len(ids):
        raise InvalidInput(f"{len(texts)} train texts but {len(ids)} ids")
    if dev_texts is None or dev_ids is None:
        order = np.random.default_rng(settings.seed).permutation(len(texts))
        held = set(order[:max(1, int(round(settings.dev_share * len(texts))))].tolist())
        dev = [texts[i] for i in sorted(held)], [ids[i] for i in sorted(held)]
        texts, ids = [t for i, t in enumerate(texts) if i not in held], [t for i, t in enumerate(ids) if i not in held]
    else:
        dev = _texts(dev_texts), _ids(dev_ids)
        if len(dev[0]) != len(dev[1]):
            raise InvalidInput(f"{len(dev[0])} dev texts but {len(dev[1])} ids")
    if len(texts) < MIN_QUERIES or len(dev[0]) < MIN_QUERIES:
        raise InvalidInput(f"training needs at least {MIN_QUERIES} train and {MIN_QUERIES} dev queries")
    matcher, parser_quality = build_matcher(reference, settings.seed, report)

    report("candidates", 0.45)
    known = matcher.gazetteer.row_of
    prepared = matcher.prepare([normalise(t) for t in texts])
    truth_rows = [known.get(i, -1) for i in ids]
    x = np.vstack([f for f in prepared.features if len(f)])
    y = np.concatenate([np.asarray(c.rows) == t for c, t in zip(prepared.candidates, truth_rows, strict=True)
                        if len(c.rows)]).astype(int)
    report("re-ranker", 0.6)
    matcher.reranker = Reranker.fit(x, y, settings.seed)

    report("calibration", 0.8)
    ranked = matcher.rank([normalise(t) for t in dev[0]])
    dev_signals = signals(ranked)
    correct = _top_correct(matcher, ranked, dev[1])
    confidence_model = ConfidenceModel()
    held_out = confidence_model.out_of_fold(dev_signals, correct, settings.seed)
    held_out[[not r.rows for r in ranked]] = 0.0
    confidence_model.fit(dev_signals, correct)
    # the auto-coding rule (accepted precision reaches the target, out of fold), and at most 1% of the
    # not-in-reference queries accepted (an upper bound at 95%): both must hold, the stricter wins
    threshold = max(threshold_for_accuracy(held_out, correct, settings.target_precision),
                    threshold_for_out_of_reference(held_out, np.array([i == "" for i in dev[1]])))
    metadata = {"seed": settings.seed, "train_queries": len(texts), "dev_queries": len(dev[0]),
                "parser_sequences": min(PARSER_SEQUENCES, 2 * len(reference)), "reranker_rows": int(len(y)),
                "embedding_dimensions": matcher.encoder.dimensions,
                "training_seconds": round(time.perf_counter() - started, 2)}
    model = AddressModel(matcher, confidence_model, threshold, settings.target_precision, settings.top_k, metadata)
    evaluation = _evaluate_ranked(model, ranked, held_out, dev[1], parser_quality)
    report("done", 1.0)
    return model, evaluation


def _top_correct(matcher: Matcher, ranked: list[Ranked], ids: list[str]) -> np.ndarray:
    g = matcher.gazetteer
    return np.array([bool(r.rows) and t != "" and g.ids[r.rows[0]] == t for r, t in zip(ranked, ids, strict=True)])


def _evaluate_ranked(model: AddressModel, ranked: list[Ranked], confidence: np.ndarray, ids: list[str],
                     parser: dict[str, dict[str, float]] | None = None) -> AddressEvaluation:
    g = model.matcher.gazetteer
    top_ids = [[str(g.ids[r]) for r in x.rows[:model.top_k]] for x in ranked]
    candidate_ids = [{str(g.ids[r]) for r in x.rows} for x in ranked]
    return evaluate_matches(ids, top_ids, candidate_ids, confidence, model.threshold, model.target_precision,
                            model.top_k, parser)


def evaluate_matcher(model: AddressModel, texts: pd.Series | Sequence[str],
                     ids: pd.Series | Sequence[str]) -> AddressEvaluation:
    """Every measure of `model` on labelled queries (id "" = not in the reference)."""
    text_list, id_list = _texts(texts), _ids(ids)
    if len(text_list) != len(id_list):
        raise InvalidInput(f"{len(text_list)} texts but {len(id_list)} ids")
    unique, index = model._distinct(text_list)
    matches = model.match_normalised(unique)
    ranked = [matches.ranked[i] for i in index]
    return _evaluate_ranked(model, ranked, matches.confidence[index], id_list)
