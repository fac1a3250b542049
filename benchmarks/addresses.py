"""Address matching: statops against plain BM25 (tantivy alone) and fuzzy matching alone (rapidfuzz over
a blocked candidate set), side by side on the same queries in one run.

Every system learns only from train and dev and is reported on test (the test bed of
`benchmarks/address_testbed.py`: reference.csv.gz, train/dev/test.csv.gz with columns text, id, style;
id "" = not in the reference).

- statops: `statops.addresses.train.fit_matcher` on train, dev for calibration and the threshold; then
  `AddressModel.predict_frame` on test (single queries: `predict_columns`, as the HTTP API and files ask).
- bm25: one tantivy index over the whole reference address string (default tokenizer); the query upper
  cased, punctuation stripped, its words as term queries (no query parser, so nothing to escape); top-1 =
  the best hit. Confidence: a logistic regression on BM25 signals (top score, gap to the second, the gap's
  share of the top score, query words) fitted on train; threshold on dev.
- fuzzy: rapidfuzz over a blocked candidate set (the query's postcode block if it has a postcode the
  reference knows, plus the reference addresses sharing the most of its rarer words, at most `--block`);
  best `fuzz.ratio` + `fuzz.token_set_ratio` (better top-1 on the small bed's dev than `WRatio` or either
  alone). Confidence (top score, gap, both parts, ties, block size) and threshold as for bm25.

Both peers choose their threshold with statops' own rule, `statops.coding.metrics.threshold_for_accuracy`,
at 99% precision on dev. Each system runs in its own subprocess, so its peak memory (ru_maxrss) is its own.
Single-query rate: the first `--single` test queries (at most half of them) one call each, in process;
batched: the other test queries in one call (the peers have no batch path: their batch is the same loop
inside one call). Both on queries the system has not seen (statops caches normalised and parsed texts).

    python benchmarks/addresses.py [--bed /work/addr-testbed | --small] [--systems statops,bm25,fuzzy]
        [--single 2000] [--block 300]

Prints a table (and one per query style) and writes benchmarks/out/addresses.json (or addresses_small.json).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tantivy
from rapidfuzz import fuzz, process
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from statops.addresses.fields import FIELDS, compose
from statops.coding.metrics import threshold_for_accuracy
from statops.demo import bundled_file

TARGET = 0.99
SYSTEMS = ("statops", "bm25", "fuzzy")
DEFAULT_BED = Path("/work/addr-testbed")
SPLITS = ("reference", "train", "dev", "test")
# The targets, printed beside the numbers.
TARGETS = {
    "top1_accuracy": ("≥ 0.970", lambda v: v >= 0.97),
    "accepted_share_in_reference": ("≥ 0.900", lambda v: v >= 0.90),
    "accepted_precision": ("≥ 0.990", lambda v: v >= 0.99),
    "out_of_reference_accepted_share": ("≤ 0.010", lambda v: v <= 0.01),
    "single_queries_per_s": ("≥ 2,000", lambda v: v >= 2000),
    "index_build_s_per_million": ("≤ 60", lambda v: v <= 60),
}
_WORD = re.compile(r"[A-Z0-9]+")
_POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})\b")


def light(text: str) -> str:
    """Upper case, punctuation stripped, spaces collapsed: all the normalisation the peers get."""
    return " ".join(_WORD.findall(str(text).upper()))


def read_bed(bed: Path | None) -> dict[str, pd.DataFrame]:
    def path(name: str) -> Path:
        return bed / f"{name}.csv.gz" if bed else bundled_file(f"{name}.csv.gz", "addresses")
    return {s: pd.read_csv(path(s), dtype=str, keep_default_na=False) for s in SPLITS}


# -- the peers -------------------------------------------------------------------------------------
class Bm25:
    """tantivy alone: the whole reference address string in one text field, BM25."""

    name = "bm25"

    def __init__(self, reference: pd.DataFrame) -> None:
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("whole", stored=False)  # default tokenizer: lower case, split on non-alphanumerics
        builder.add_integer_field("row", fast=True, stored=False)
        self.schema = builder.build()
        index = tantivy.Index(self.schema)
        writer = index.writer(heap_size=200_000_000, num_threads=1)
        for row, text in enumerate(compose(reference)):
            writer.add_document(tantivy.Document(row=row, whole=light(text)))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        self.index = index
        self.searcher = index.searcher()

    def search(self, text: str) -> tuple[list[int], list[float], int]:
        """The best two rows and their BM25 scores, and the query's word count."""
        words = list(dict.fromkeys(light(text).lower().split()))
        if not words:
            return [], [], 0
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "whole", w)) for w in words])
        hits = self.searcher.search(query, 2, count=False).hits
        if not hits:
            return [], [], len(words)
        rows = self.searcher.fast_field_values("row", [address for _, address in hits])
        return [int(r) for r in rows], [float(s) for s, _ in hits], len(words)

    def signals(self, text: str) -> tuple[int, list[float]]:
        rows, scores, words = self.search(text)
        if not rows:
            return -1, [0.0, 0.0, 0.0, float(words)]
        top = scores[0]
        gap = top - (scores[1] if len(scores) > 1 else 0.0)
        return rows[0], [top, gap, gap / top if top > 0 else 0.0, float(words)]


class Fuzzy:
    """rapidfuzz alone over a blocked candidate set: the query's postcode block plus the reference
    addresses sharing the most of its rarer words."""

    name = "fuzzy"
    RARE = 3  # the query's rarest words used for blocking
    MAX_POSTING = 2000  # words in more reference addresses than this do not block

    def __init__(self, reference: pd.DataFrame, block: int) -> None:
        self.block = block
        self.strings = [light(t) for t in compose(reference)]
        self.by_postcode: dict[str, list[int]] = defaultdict(list)
        for row, pc in enumerate(reference["postcode"].str.upper().str.replace(" ", "", regex=False)):
            if pc:
                self.by_postcode[pc].append(row)
        postings: dict[str, list[int]] = defaultdict(list)
        for row, s in enumerate(self.strings):
            for w in set(s.split()):
                postings[w].append(row)
        self.postings = {w: np.asarray(r, dtype=np.int32) for w, r in postings.items()}

    def candidates(self, query: str) -> list[int]:
        rows: list[int] = []
        match = _POSTCODE.search(query)
        if match:
            rows = self.by_postcode.get(match.group(1) + match.group(2), [])[: self.block]
        known = sorted((len(self.postings[w]), w) for w in set(query.split()) if w in self.postings)
        rare = [w for n, w in known if n <= self.MAX_POSTING][: self.RARE] or [w for _, w in known[:1]]
        if rare and len(rows) < self.block:
            shared = Counter(np.concatenate([self.postings[w] for w in rare]).tolist())
            seen = set(rows)
            extra = [r for r, _ in shared.most_common() if r not in seen]
            rows = rows + extra[: self.block - len(rows)]
        return rows

    def signals(self, text: str) -> tuple[int, list[float]]:
        query = light(text)
        rows = self.candidates(query) if query else []
        if not rows:
            return -1, [0.0] * 6
        choices = [self.strings[r] for r in rows]
        whole = process.cdist([query], choices, scorer=fuzz.ratio)[0]
        words = process.cdist([query], choices, scorer=fuzz.token_set_ratio)[0]
        score = whole + words  # on the small bed's dev: better top-1 than WRatio or either alone
        order = np.argsort(-score, kind="stable")[:2]
        top = float(score[order[0]])
        second = float(score[order[1]]) if len(order) > 1 else 0.0
        return rows[int(order[0])], [top, top - second, float(whole[order[0]]), float(words[order[0]]),
                                     float((score == top).sum()), math.log1p(len(rows))]


class Peer:
    """A peer's top-1 with a confidence (logistic regression on its signals, fitted on train) and a
    threshold chosen on dev by statops' rule."""

    def __init__(self, engine: Bm25 | Fuzzy, ids: np.ndarray) -> None:
        self.engine, self.ids = engine, ids
        self.coefficients: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None
        self.threshold = 1.0

    def _signals(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        pairs = [self.engine.signals(t) for t in texts]
        rows = np.array([r for r, _ in pairs])
        codes = np.where(rows >= 0, self.ids[np.maximum(rows, 0)], "")
        return codes, np.array([s for _, s in pairs], dtype=float)

    def _confidence(self, x: np.ndarray) -> np.ndarray:
        """The logistic regression by hand (sklearn's per-call overhead would dominate one query)."""
        if self.coefficients is None:
            return np.zeros(len(x))
        mean, scale, weights, bias = self.coefficients
        return 1.0 / (1.0 + np.exp(-(((x - mean) / scale) @ weights + bias)))

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        codes, x = self._signals(texts)
        confidence = self._confidence(x)
        confidence[codes == ""] = 0.0
        return pd.DataFrame({"code": codes, "confidence": confidence,
                             "decision": np.where(confidence >= self.threshold, "auto", "review")})

    def predict_one(self, text: str) -> tuple[str, float, str]:
        row, x = self.engine.signals(text)
        if row < 0:
            return "", 0.0, "review"
        confidence = float(self._confidence(np.asarray([x]))[0])
        return str(self.ids[row]), confidence, "auto" if confidence >= self.threshold else "review"

    def fit(self, train: pd.DataFrame, dev: pd.DataFrame) -> None:
        codes, x = self._signals(train.text.tolist())
        correct = (codes == train.id.to_numpy()) & (train.id.to_numpy() != "")
        scaler = StandardScaler().fit(x)
        logistic = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(x), correct.astype(int))
        self.coefficients = (scaler.mean_, scaler.scale_, logistic.coef_[0], float(logistic.intercept_[0]))
        frame = self.predict(dev.text.tolist())
        dev_correct = (frame.code.to_numpy() == dev.id.to_numpy()) & (dev.id.to_numpy() != "")
        self.threshold = threshold_for_accuracy(frame.confidence.to_numpy(), dev_correct, TARGET)


# -- measuring -------------------------------------------------------------------------------------
def measures(truth: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, float]:
    """The headline measures of one system's test predictions (a not-in-reference query accepted is wrong)."""
    ids, codes = truth.id.to_numpy(), predicted.code.to_numpy()
    accepted = predicted.decision.to_numpy() == "auto"
    inside = ids != ""
    correct = inside & (codes == ids)
    return {
        "top1_accuracy": float(correct[inside].mean()) if inside.any() else float("nan"),
        "accepted_share_in_reference": float(accepted[inside].mean()) if inside.any() else float("nan"),
        "accepted_precision": float(correct[accepted].mean()) if accepted.any() else float("nan"),
        "out_of_reference_accepted_share": float(accepted[~inside].mean()) if (~inside).any() else float("nan"),
        "accepted_share_all": float(accepted.mean()),
        "in_reference_queries": int(inside.sum()),
        "out_of_reference_queries": int((~inside).sum()),
    }


def by_style(truth: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, dict[str, float]]:
    out = {}
    for style, rows in truth.groupby("style").groups.items():
        m = measures(truth.loc[rows], predicted.loc[rows])
        wrong_accepted = int(((predicted.decision.loc[rows] == "auto")
                              & (predicted.code.loc[rows] != truth.id.loc[rows])).sum())
        out[str(style)] = {**m, "queries": len(rows), "accepted_wrong": wrong_accepted}
    return out


def failures(reference: pd.DataFrame, truth: pd.DataFrame, predicted: pd.DataFrame, shown: int = 12) -> dict:
    """Where a system goes wrong: for wrong top-1 answers to in-reference queries, which reference fields
    differ between the answer and the truth (counted), and examples of wrong answers it accepted."""
    fields = reference.set_index("id")[list(FIELDS)]
    address = dict(zip(reference.id, compose(reference), strict=True))
    ids, codes = truth.id.to_numpy(), predicted.code.to_numpy()
    wrong = np.nonzero((ids != "") & (codes != ids))[0]
    kinds: Counter[str] = Counter()
    for i in wrong:
        if codes[i] == "" or codes[i] not in fields.index or ids[i] not in fields.index:
            kinds["no candidate" if codes[i] == "" else "unknown id"] += 1
            continue
        a, b = fields.loc[codes[i]], fields.loc[ids[i]]
        kinds[" + ".join(f for f in FIELDS if a[f] != b[f]) or "same fields"] += 1
    accepted = predicted.decision.to_numpy() == "auto"

    def example(i: int) -> dict:
        return {"text": truth.text.iat[i], "style": truth["style"].iat[i], "truth": address.get(ids[i], ""),
                "answer": address.get(codes[i], ""), "confidence": round(float(predicted.confidence.iat[i]), 4)}

    bad = np.nonzero(accepted & (codes != ids))[0]
    return {"wrong_top1_differing_fields": dict(kinds.most_common()),
            "accepted_wrong_in_reference": [example(i) for i in bad if ids[i] != ""][:shown],
            "accepted_not_in_reference": [example(i) for i in bad if ids[i] == ""][:shown],
            "wrong_top1_examples": [example(i) for i in wrong[:shown]]}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_predictions(predict_one: Callable[[str], tuple[str, float, str]],
                      predict_all: Callable[[list[str]], pd.DataFrame], texts: list[str],
                      single: int) -> tuple[pd.DataFrame, dict]:
    """Predictions for every text with both rates, each on texts the system has not seen before (statops
    caches normalised and parsed texts): the first `single` texts one call each, the rest in one call."""
    single = min(single, len(texts) // 2)
    started = time.perf_counter()
    ones = [predict_one(t) for t in texts[:single]]
    one_seconds = time.perf_counter() - started
    started = time.perf_counter()
    rest = predict_all(texts[single:])
    all_seconds = time.perf_counter() - started
    head = pd.DataFrame(ones, columns=["code", "confidence", "decision"])
    predicted = pd.concat([head, rest[["code", "confidence", "decision"]]], ignore_index=True)
    again = predict_all(texts[:single])  # the batched path on the single path's texts: the same answers?
    agree = bool((again.code.to_numpy() == head.code.to_numpy()).all()
                 and np.allclose(again.confidence.to_numpy(dtype=float), head.confidence.to_numpy(dtype=float)))
    return predicted, {"single_queries_per_s": single / one_seconds, "single_queries_timed": single,
                       "batched_queries_per_s": (len(texts) - single) / all_seconds,
                       "batched_queries_timed": len(texts) - single, "single_and_batched_agree": agree}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# -- one system in its own process -----------------------------------------------------------------
def stage(system: str, bed: Path | None, single: int, block: int) -> dict:
    data = read_bed(bed)
    reference, train, dev, test = (data[s] for s in SPLITS)
    result: dict = {"system": system, "peak_mb_after_loading_data": peak_mb(), "reference_rows": len(reference)}
    texts = test.text.tolist()
    if system == "statops":
        predicted, extra = stage_statops(reference, train, dev, texts, test.id.tolist(), single)
        result.update(extra)
    else:
        started = time.perf_counter()
        engine = Bm25(reference) if system == "bm25" else Fuzzy(reference, block)
        result["index_build_seconds"] = time.perf_counter() - started
        peer = Peer(engine, reference.id.to_numpy())
        peer.fit(train, dev)
        result["fit_seconds"] = time.perf_counter() - started
        result["threshold"] = float(peer.threshold)
        predicted, timing = timed_predictions(peer.predict_one, peer.predict, texts, single)
        result.update(timing)
    result["index_build_s_per_million"] = result["index_build_seconds"] / len(reference) * 1e6 \
        if result.get("index_build_seconds") is not None else None
    result.update(measures(test, predicted))
    result["by_style"] = by_style(test, predicted)
    result["failures"] = failures(reference, test, predicted)
    result["peak_mb"] = peak_mb()
    return result


def stage_statops(reference: pd.DataFrame, train: pd.DataFrame, dev: pd.DataFrame, texts: list[str],
                  test_ids: list[str], single: int) -> tuple[pd.DataFrame, dict]:
    from statops.addresses.train import evaluate_matcher, fit_matcher  # noqa: PLC0415 (the peers need none of it)

    marks: list[tuple[str, float]] = []

    def progress(name: str, fraction: float) -> None:
        marks.append((name, time.perf_counter()))

    started = time.perf_counter()
    model, dev_evaluation = fit_matcher(reference, train.text, train.id, dev.text, dev.id,
                                        options={"seed": 0, "target_precision": TARGET}, progress=progress)
    fit_seconds = time.perf_counter() - started
    stages = {}
    points = [("start", started), *marks]
    for (name, at), (_, end) in zip(points, points[1:], strict=False):
        stages[name] = stages.get(name, 0.0) + end - at
    extra: dict = {"fit_seconds": fit_seconds, "stage_seconds": stages, "threshold": float(model.threshold),
                   "dev_metrics": dev_evaluation.metrics(),
                   # The progress stage "indexes" is the tantivy and usearch builds, up to "candidates".
                   "index_build_seconds": stages.get("indexes")}
    peak_fit = peak_mb()

    def one(text: str) -> tuple[str, float, str]:  # as the HTTP API asks: columns, no DataFrame
        row = model.predict_columns([text])
        return row["code"][0], row["confidence"][0], row["decision"][0]

    try:
        predicted, timing = timed_predictions(one, model.predict_frame, texts, single)
        extra.update(timing)
    except Exception as error:  # noqa: BLE001 (a failing path is a result to report, not a reason to stop)
        extra["single_query_error"] = f"{type(error).__name__}: {error}"
        print(f"statops: one query at a time failed: {extra['single_query_error']}", flush=True)
        started = time.perf_counter()
        predicted = model.predict_frame(texts)
        extra["batched_queries_per_s"] = len(texts) / (time.perf_counter() - started)
        extra["batched_queries_timed"] = len(texts)
    # statops' own measures on the same test queries (recall at k among them), as a cross-check.
    extra["test_metrics_from_evaluate_matcher"] = evaluate_matcher(model, texts, test_ids).metrics()
    extra["peak_mb_after_fit"] = peak_fit
    try:
        from statops.addresses.persist import load_model, save_model  # noqa: PLC0415
    except ImportError:
        extra["model_folder_bytes"] = None
        extra["persist"] = "statops.addresses.persist not there yet"
        return predicted, extra
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = save_model(model, Path(tmp) / "model")
        extra["save_seconds"] = time.perf_counter() - t0
        extra["model_folder_bytes"] = folder_bytes(Path(folder))
        t0 = time.perf_counter()
        loaded = load_model(folder)
        extra["load_seconds"] = time.perf_counter() - t0
        again = loaded.predict_frame(texts[:500])
        extra["loaded_model_same_answers"] = bool(
            (again.code.to_numpy() == predicted.code.to_numpy()[:500]).all()
            and np.allclose(again.confidence.to_numpy(), predicted.confidence.to_numpy()[:500]))
    return predicted, extra


# -- the table -------------------------------------------------------------------------------------
ROWS = [
    ("top1_accuracy", "top-1 accuracy (in-reference queries)", "{:.3f}"),
    ("accepted_share_in_reference", "in-reference queries accepted", "{:.3f}"),
    ("accepted_precision", "precision of accepted matches", "{:.4f}"),
    ("out_of_reference_accepted_share", "not-in-reference queries accepted", "{:.4f}"),
    ("single_queries_per_s", "single queries/s (in process)", "{:,.0f}"),
    ("batched_queries_per_s", "batched queries/s (one call)", "{:,.0f}"),
    ("fit_seconds", "fit seconds (train + dev)", "{:,.1f}"),
    ("index_build_seconds", "index build seconds", "{:,.1f}"),
    ("index_build_s_per_million", "index build s per million addresses", "{:,.0f}"),
    ("model_folder_mb", "model folder MB (save_model)", "{:,.1f}"),
    ("peak_mb", "peak memory MB (its own process)", "{:,.0f}"),
    ("threshold", "threshold (chosen on dev)", "{:.4f}"),
]


def table(results: dict[str, dict]) -> str:
    names = list(results)
    lines = [f"| {'measure':<40} | " + " | ".join(f"{n:>10}" for n in names) + f" | {'target':>8} | statops met |",
             f"|{'-' * 42}|" + "|".join(f"{'-' * 11}:" for _ in names) + f"|{'-' * 9}:|{'-' * 12}:|"]
    for key, label, fmt in ROWS:
        cells = []
        for n in names:
            v = results[n].get(key)
            cells.append(f"{fmt.format(v) if isinstance(v, (int, float)) and not np.isnan(v) else '-':>10}")
        target, met = TARGETS.get(key, ("", None))
        s = results.get("statops", {}).get(key)
        verdict = ("yes" if met(s) else "no") if met and isinstance(s, (int, float)) and not np.isnan(s) else ""
        lines.append(f"| {label:<40} | " + " | ".join(cells) + f" | {target:>8} | {verdict:>11} |")
    return "\n".join(lines)


def style_table(results: dict[str, dict]) -> str:
    names = list(results)
    styles = sorted(next(iter(results.values()))["by_style"])
    head = " | ".join(f"{n} top-1 / acc. / wrong acc." for n in names)
    lines = [f"| {'style':<15} | {'queries':>7} | {head} |",
             f"|{'-' * 17}|{'-' * 8}:|" + "|".join("-" * (len(n) + 27) + ":" for n in names) + "|"]
    for style in styles:
        cells = []
        for n in names:
            m = results[n]["by_style"][style]
            cells.append(f"{m['top1_accuracy']:.3f} / {m['accepted_share_in_reference']:.3f} / "
                         f"{m['accepted_wrong']:>3}".rjust(len(n) + 26))
        q = results[names[0]]["by_style"][style]["queries"]
        lines.append(f"| {style:<15} | {q:>7} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bed", type=Path, default=DEFAULT_BED, help="test bed folder (default: %(default)s)")
    parser.add_argument("--small", action="store_true", help="the small copy bundled with statops instead")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma separated: %(default)s")
    parser.add_argument("--single", type=int, default=2000, help="test queries timed one call each")
    parser.add_argument("--block", type=int, default=300, help="fuzzy: most candidates a query is compared with")
    parser.add_argument("--out", type=Path, help="JSON results (default: benchmarks/out/addresses[_small].json)")
    parser.add_argument("--stage", metavar="SYSTEM", help=argparse.SUPPRESS)
    parser.add_argument("--stage-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    bed = None if args.small else args.bed
    if args.stage:
        args.stage_out.write_text(json.dumps(stage(args.stage, bed, args.single, args.block), indent=2))
        return
    args.out = args.out or Path(__file__).parent / "out" / ("addresses_small.json" if args.small else "addresses.json")
    repo = Path(__file__).resolve().parents[1]
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True,  # noqa: E731
                                    check=False).stdout.strip()
    # The code measured is the code at the start (each stage imports it within seconds of starting).
    commit, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "src/statops/addresses")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for system in args.systems.split(","):
            print(f"{system} ...", flush=True)
            target = Path(tmp) / f"{system}.json"
            command = [sys.executable, __file__, "--stage", system, "--stage-out", str(target),
                       "--single", str(args.single), "--block", str(args.block)]
            command += ["--small"] if args.small else ["--bed", str(args.bed)]
            started = time.perf_counter()
            done = subprocess.run(command, check=False)
            if done.returncode != 0:
                print(f"{system} failed (exit {done.returncode})", flush=True)
                continue
            results[system] = json.loads(target.read_text())
            results[system]["stage_wall_seconds"] = time.perf_counter() - started
            if results[system].get("model_folder_bytes") is not None:
                results[system]["model_folder_mb"] = results[system]["model_folder_bytes"] / 2**20
    if not results:
        raise SystemExit("no system ran")
    first = next(iter(results.values()))
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    report = {"bed": "bundled small copy" if args.small else str(args.bed), "load_average_at_end": load,
              "commit_at_start": commit, "matcher_uncommitted_changes_at_start": dirty.splitlines(),
              "reference_rows": first["reference_rows"], "test_in_reference": first["in_reference_queries"],
              "test_out_of_reference": first["out_of_reference_queries"], "target_precision": TARGET,
              "systems": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print()
    print(table(results))
    print()
    print(style_table(results))
    for name, r in results.items():
        notes = [f"{k}: {r[k]}" for k in ("single_query_error", "persist", "single_and_batched_agree",
                                           "loaded_model_same_answers", "load_seconds") if k in r]
        if "stage_seconds" in r:
            notes.append("fit stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["stage_seconds"].items()))
        if r.get("test_metrics_from_evaluate_matcher"):
            m = r["test_metrics_from_evaluate_matcher"]
            notes.append("evaluate_matcher on test: " + ", ".join(
                f"{k} {m[k]:.4f}" for k in ("top1_accuracy", "recall_at_k", "accepted_share", "accepted_precision",
                                             "out_of_reference_accepted_share") if k in m))
        if notes:
            print(f"{name}: " + "; ".join(notes))
        if r.get("failures"):
            kinds = r["failures"]["wrong_top1_differing_fields"]
            print(f"{name}: wrong top-1 ({sum(kinds.values())}), fields in which the answer differs from the truth: "
                  + "; ".join(f"{k} {v}" for k, v in list(kinds.items())[:8]))
    print(f"\n{report['bed']}: {first['reference_rows']:,} reference addresses; test {first['in_reference_queries']:,} "
          f"in-reference and {first['out_of_reference_queries']:,} not-in-reference queries. Peak memory: each "
          f"system in its own process (ru_maxrss). Load average at the end: {' '.join(load)}. "
          f"Code at the start: {commit}"
          f"{' (matcher with uncommitted changes)' if dirty else ''}. "
          f"Written to {args.out}")


if __name__ == "__main__":
    main()
