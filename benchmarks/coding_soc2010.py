"""Auto-coding on SOC2010: statops against a plain baseline, side by side in one run.

Both train on train.csv, calibrate and choose their threshold on dev.csv, and are reported on
test.csv. The baseline is TF-IDF char 2-5 + word 1-2 grams, LinearSVC, temperature-scaled softmax,
its threshold chosen on dev by the same rule. Batch scoring is timed on a file of N rows drawn
from the test texts (with repetition, as in live survey data), each tool run as its own process
(statops through `statops score`; the baseline through a plain chunked loop), with wall time and
peak memory from /usr/bin/time. Also timed in-process: every distinct text of the three splits.

    python benchmarks/coding_soc2010.py [--data-dir ../shared/data/soc2010] [--rows 1000000]
        [--profiles standard,accurate,fast,accurate:refit] [--distinct N]

Prints a table and writes benchmarks/out/coding_soc2010.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from scipy.special import softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC

from statops import Workspace
from statops.classifications import Hierarchy, add_classification
from statops.coding.calibration import fit_temperature
from statops.coding.metrics import evaluate_predictions, threshold_for_accuracy
from statops.coding.text import normalise
from statops.data import add_dataset, load_dataset
from statops.demo import bundled_file
from statops.registry import log_training
from statops.tasks import FitRequest, get_task

TARGET = 0.95
CHUNK = 50_000


# -- the baseline ----------------------------------------------------------------------------------
def baseline_features() -> FeatureUnion:
    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, dtype=np.float32)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                  token_pattern=r"(?u)\b\w+\b", dtype=np.float32)),
    ])


def baseline_probabilities(features, svc, temperature, texts):  # noqa: ANN001, ANN201
    return softmax(svc.decision_function(features.transform(normalise(texts))) / temperature, axis=1)


def train_baseline(train: pd.DataFrame, dev: pd.DataFrame, label: str) -> dict:
    started = time.perf_counter()
    features = baseline_features()
    svc = LinearSVC(C=1.0, random_state=0).fit(features.fit_transform(normalise(train.text)), train[label])
    classes = np.asarray(svc.classes_, dtype=object)
    index = {c: i for i, c in enumerate(classes)}
    dev_scores = svc.decision_function(features.transform(normalise(dev.text)))
    temperature = fit_temperature(dev_scores, np.array([index.get(y, -1) for y in dev[label]]))
    p = softmax(dev_scores / temperature, axis=1)
    threshold = threshold_for_accuracy(p.max(axis=1), classes[p.argmax(axis=1)] == dev[label].to_numpy(), TARGET)
    return {"features": features, "svc": svc, "temperature": temperature, "threshold": threshold,
            "classes": classes, "fit_seconds": time.perf_counter() - started}


def evaluate_baseline(b: dict, test: pd.DataFrame, label: str, hierarchy: Hierarchy):  # noqa: ANN201
    p = baseline_probabilities(b["features"], b["svc"], b["temperature"], test.text)
    top = np.argsort(-p, axis=1)[:, :5]
    return evaluate_predictions(list(test[label]), list(b["classes"][top[:, 0]]), p.max(axis=1),
                                [list(b["classes"][t]) for t in top], hierarchy, b["threshold"], TARGET)


def baseline_score_file(model_dir: str, source: str, target: str) -> None:
    """The naive batch loop: read a chunk, transform, predict, write. No de-duplication."""
    features = sio.load(Path(model_dir) / "features.skops", trusted=[])
    svc = sio.load(Path(model_dir) / "svc.skops", trusted=[])
    meta = json.loads((Path(model_dir) / "meta.json").read_text())
    classes = np.asarray(svc.classes_, dtype=object)
    first = True
    for chunk in pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=CHUNK):
        p = baseline_probabilities(features, svc, meta["temperature"], chunk.text)
        top = np.argsort(-p, axis=1)[:, :5]
        confidence = p.max(axis=1)
        chunk["code"] = classes[top[:, 0]]
        chunk["confidence"] = confidence
        chunk["decision"] = np.where(confidence >= meta["threshold"], "auto", "review")
        chunk["alternatives"] = [json.dumps([{"code": classes[i], "probability": round(float(q[i]), 6)} for i in t])
                                 for t, q in zip(top, p, strict=True)]
        chunk.to_csv(target, mode="w" if first else "a", header=first, index=False)
        first = False


# -- measuring -------------------------------------------------------------------------------------
def timed_process(command: list[str]) -> dict:
    """Wall seconds and peak resident memory of a command, from GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        result = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", report.name, *command],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"{command[:3]} failed:\n{result.stderr[-3000:]}")
        seconds, kilobytes = Path(report.name).read_text().split()[-2:]
    return {"seconds": float(seconds), "peak_mb": int(kilobytes) / 1024, "stdout": result.stdout}


def throughput_in_process(predict, texts: pd.Series, forget=None) -> float:  # noqa: ANN001
    predict(texts.head(500))  # warm
    if forget is not None:  # a model that keeps its answers: time every text scored, none remembered
        forget()
    started = time.perf_counter()
    predict(texts)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with train/dev/test/structure CSV "
                        "(default: the copy bundled with statops)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the batch-scoring file (0: no "
                        "batch scoring)")
    parser.add_argument("--label", default="soc2010", help="label column: soc2010 (with its structure) or "
                        "soc2000 (another code list; levels from code prefixes)")
    parser.add_argument("--profiles", default="standard", help="statops coder profiles side by side, comma "
                        "separated: standard (today's TF-IDF coder), accurate, fast; PROFILE:refit refits the "
                        "classifiers on train + dev once dev has chosen every setting (option refit_on_dev)")
    parser.add_argument("--distinct", type=int, default=0, help="time the in-process rate on this many distinct "
                        "texts (default: all of them)")
    parser.add_argument("--out", type=Path, help="JSON results (default: benchmarks/out/coding_LABEL.json)")
    parser.add_argument("--baseline-score", nargs=3, metavar=("MODEL_DIR", "IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out = args.out or Path(__file__).parent / "out" / f"coding_{args.label}.json"
    if args.baseline_score:
        baseline_score_file(*args.baseline_score)
        return

    def path(name: str) -> Path:
        return args.data_dir / f"{name}.csv" if args.data_dir else bundled_file(f"{name}.csv.gz")

    read = lambda name: pd.read_csv(path(name), dtype=str, keep_default_na=False)  # noqa: E731
    label = args.label
    # A handful of index entries have no code in the chosen column; neither tool can learn from them.
    train, dev, test = (read(s).query(f"{label} != ''").reset_index(drop=True) for s in ("train", "dev", "test"))
    hierarchy = (Hierarchy.from_structure(read("structure")) if label == "soc2010"
                 else Hierarchy.from_codes(sorted(set(train[label]) | set(dev[label]) | set(test[label]))))
    distinct = pd.Series(pd.concat([train.text, dev.text, test.text]).unique())
    if args.distinct:
        distinct = distinct.sample(n=min(args.distinct, len(distinct)), random_state=0).reset_index(drop=True)

    task = get_task("coding")
    fitted, evaluations, rates = {}, {}, {}
    for profile in args.profiles.split(","):
        print(f"training statops ({profile}) ...", flush=True)
        name, _, variant = profile.partition(":")  # e.g. accurate:refit, the profile refitted on train + dev
        options = {"seed": 0, "profile": name, **({"refit_on_dev": True} if variant == "refit" else {})}
        fitted[profile] = task.fit(FitRequest(train.text, train[label], hierarchy, dev.text, dev[label], options))
        evaluations[profile] = task.evaluate(fitted[profile].model, test.text, test[label])
        rates[profile] = throughput_in_process(fitted[profile].model.predict_frame, distinct,
                                               getattr(fitted[profile].model, "forget_answers", None))
    print("training the baseline ...", flush=True)
    base = train_baseline(train, dev, label)
    base_eval = evaluate_baseline(base, test, label, hierarchy)
    base_distinct = throughput_in_process(
        lambda t: baseline_probabilities(base["features"], base["svc"], base["temperature"], t), distinct)

    nothing = {"seconds": float("nan"), "peak_mb": float("nan")}
    batches = dict.fromkeys(fitted, nothing)
    base_batch = nothing
    if args.rows:
        batches, base_batch = batch_scoring(args, path, train, dev, test, label, task, fitted, base)

    def row(e, fit: float, batch: dict, distinct_rate: float) -> dict:  # noqa: ANN001
        return {**{f"accuracy_{k}": v for k, v in e.level_accuracy.items()}, "top5_accuracy": e.top5_accuracy,
                "macro_f1": e.macro_f1, "ece": e.ece, "auto_coded_share_at_95": e.auto_coded_share,
                "auto_coded_accuracy": e.auto_coded_accuracy, "fit_seconds": fit,
                "batch_records_per_s": args.rows / batch["seconds"] if args.rows else None,
                "batch_seconds": batch["seconds"] if args.rows else None,
                "batch_peak_mb": batch["peak_mb"] if args.rows else None,
                "distinct_records_per_s_in_process": distinct_rate}

    columns = {f"statops {p}" if p != "standard" else "statops": row(evaluations[p], fitted[p].fit_seconds,
                                                                       batches[p], rates[p]) for p in fitted}
    columns["baseline"] = row(base_eval, base["fit_seconds"], base_batch, base_distinct)
    results = {**columns, "rows": args.rows, "distinct_texts": len(distinct), "test_records": len(test)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print()
    print(f"| {'measure':<38} | " + " | ".join(f"{c:>16}" for c in columns) + " |")
    print(f"|{'-' * 40}|" + "|".join(f"{'-' * 17}:" for _ in columns) + "|")
    for key in columns["baseline"]:
        fmt = (lambda v: f"{v:,.0f}") if ("per_s" in key or "mb" in key) else (lambda v: f"{v:.3f}")
        print(f"| {key:<38} | " + " | ".join(
            f"{fmt(c[key]) if c[key] is not None else '-':>16}" for c in columns.values()) + " |")
    print(f"\nbatch file: {args.rows:,} rows drawn from the {len(test):,} test texts; "
          f"in-process rate over {len(distinct):,} distinct texts. Written to {args.out}")


def batch_scoring(args, path, train, dev, test, label, task, fitted, base):  # noqa: ANN001, ANN201
    """`statops score` on the big file for each profile, and the baseline's plain loop, each its own process."""
    batches = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rng = np.random.default_rng(0)
        big = tmp / "survey.csv"
        picks = rng.integers(0, len(test), args.rows)
        pd.DataFrame({"id": np.arange(args.rows), "text": test.text.to_numpy()[picks]}).to_csv(big, index=False)
        ws = Workspace.init(tmp / "ws")
        classification = "soc2010" if label == "soc2010" else None
        if classification:
            add_classification(ws, classification, path("structure"), version="2010")
        infos = {}
        for split, frame in (("train", train), ("dev", dev)):
            frame.to_csv(tmp / f"{split}.csv", index=False)
            infos[split] = add_dataset(ws, f"{label}-{split}", tmp / f"{split}.csv", "text", label, classification)
        for profile, result in fitted.items():
            print(f"scoring {args.rows:,} rows with statops score ({profile}) ...", flush=True)
            model_name = f"bench-{profile.replace(':', '-')}"
            log_training(ws, model_name, task, result, (infos["train"], load_dataset(ws, infos["train"])),
                         (infos["dev"], load_dataset(ws, infos["dev"])), "soc2010@2010" if classification else None)
            batches[profile] = timed_process([sys.executable, "-m", "statops", "score", model_name, str(big),
                                              str(tmp / f"{model_name}.csv"), "--home", str(tmp / "ws")])
        print(f"scoring {args.rows:,} rows with the baseline loop ...", flush=True)
        model_dir = tmp / "baseline"
        model_dir.mkdir()
        sio.dump(base["features"], model_dir / "features.skops")
        sio.dump(base["svc"], model_dir / "svc.skops")
        (model_dir / "meta.json").write_text(json.dumps({"temperature": base["temperature"],
                                                          "threshold": base["threshold"]}))
        base_batch = timed_process([sys.executable, __file__, "--baseline-score", str(model_dir), str(big),
                                    str(tmp / "base.csv")])
    return batches, base_batch


if __name__ == "__main__":
    main()
