"""Monitoring speed: every signal over one window of 1M logged predictions, statops against the naive way
(`read_predictions`, every column through the ORM, then the same signals), side by side in one run.

The workspace holds a model trained on the bundled SOC2010 train split, its reference profile made from
the dev split at training, and N logged predictions whose texts are drawn from the test split (with
repetition, as in live survey data; a tenth with their qualifiers removed, so there is a mild shift to
find), spread over a week. Each measurement runs in its own process (peak memory from ru_maxrss).

    python benchmarks/monitoring.py [--rows 1000000] [--database-url postgresql://...]

Prints a table and writes benchmarks/out/monitoring.json. Evidently's data-drift preset on the same
columns is the peer the issue names; it is not installed here (see docs/monitoring.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "out"
INSERT_ROWS = 50_000


def build(home: Path, rows: int, database_url: str | None) -> None:
    """A trained model and `rows` logged predictions in a new workspace at `home`."""
    from statops import Workspace
    from statops.classifications import add_classification
    from statops.data import add_dataset
    from statops.demo import bundled_file
    from statops.registry import load_model, resolve_model, train_and_register
    from statops.scoring import new_id, write_rows

    ws = Workspace.init(home, **({"database_url": database_url} if database_url else {}))
    folder = home.parent
    for split in ("train", "dev", "test", "structure"):
        pd.read_csv(bundled_file(f"{split}.csv.gz"), dtype=str, keep_default_na=False).to_csv(
            folder / f"{split}.csv", index=False)
    add_classification(ws, "soc2010", folder / "structure.csv", version="2010")
    for split in ("train", "dev"):
        add_dataset(ws, f"soc-{split}", folder / f"{split}.csv", "text", "soc2010", "soc2010")
    started = time.perf_counter()
    train_and_register(ws, "occupation", "soc-train", "soc-dev")
    print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)
    ref = resolve_model(ws, "occupation")
    test = pd.read_csv(folder / "test.csv", dtype=str, keep_default_na=False)
    texts = pd.concat([test["text"], test["title"]], ignore_index=True)
    answers = load_model(ws, ref).predict_frame(texts)
    rng = np.random.default_rng(0)
    weights = np.r_[np.full(len(test), 0.9 / len(test)), np.full(len(test), 0.1 / len(test))]
    start = datetime.now(UTC) - timedelta(days=7)
    started = time.perf_counter()
    for first in range(0, rows, INSERT_ROWS):
        n = min(INSERT_ROWS, rows - first)
        pick = rng.choice(len(texts), n, p=weights)
        at = start + timedelta(days=7) * (first / rows)
        write_rows(ws.store, [
            {"id": new_id(), "at": at, "model": "occupation", "version": ref.version, "alias": None,
             "source": "batch", "request_id": f"bench-{first}", "input_sha256": "0" * 64,
             "input_text": texts.iat[i], "code": answers["code"].iat[i],
             "confidence": float(answers["confidence"].iat[i]),
             "decision": answers["decision"].iat[i], "alternatives": "[]", "requested_by": "bench"}
            for i in pick])
    print(f"logged {rows:,} predictions in {time.perf_counter() - started:.0f} s", flush=True)
    ws.close()


def measure(home: Path, way: str, rows: int) -> dict[str, float]:
    """One way of computing every signal over the whole log as one window (run in its own process)."""
    from statops import Workspace
    from statops.monitoring import monitor
    from statops.monitoring.log_window import read_log_columns
    from statops.monitoring.reference_store import load_reference
    from statops.monitoring.signals import WindowInput, compute_signals
    from statops.registry import resolve_model
    from statops.scoring import read_predictions

    ws = Workspace.open(home)
    ref = resolve_model(ws, "occupation")
    result: dict[str, float] = {}
    started = time.perf_counter()
    if way == "statops":
        outcome = monitor(ws, "occupation", window=str(rows), update_alerts_store=False)
        result["total_s"] = time.perf_counter() - started
        result["records"] = outcome.latest.records if outcome.latest else 0
        result["alerts"] = sum(s.status == "alert" for s in outcome.latest.signals) if outcome.latest else 0
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()  # again, warm: MLflow and scikit-learn imported, as in a server
        monitor(ws, "occupation", window=str(rows), update_alerts_store=False)
        result["warm_s"] = time.perf_counter() - started
        started = time.perf_counter()  # of which: reading the log's columns (timed again on its own)
        read_log_columns(ws.store, "occupation", ref.version)
        result["read_s"] = time.perf_counter() - started
        result["monitor_s"] = result["total_s"] - result["read_s"]
        ws.close()
        return result
    else:  # the naive way: every column of every row, then the same signal code on the whole texts
        frame = read_predictions(ws.store, "occupation", ref.version)
        result["read_s"] = time.perf_counter() - started
        reference = load_reference(ws, ref)
        assert reference is not None
        records = pd.DataFrame({"code": frame["code"].astype(str), "confidence": frame["confidence"].astype(float),
                                "decision": frame["decision"], "text_length": frame["input_text"].str.len()})
        data = WindowInput(records, frame["input_text"].tolist(), frame.iloc[0:0].assign(true_code="", source=""))
        signals = compute_signals(data, reference, ws.settings.model_copy(update={"monitor_text_sample": rows}))
        result["monitor_s"] = time.perf_counter() - started - result["read_s"]
        result["records"] = len(frame)
        result["alerts"] = sum(s.status == "alert" for s in signals)
    result["total_s"] = time.perf_counter() - started
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ws.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--skip-naive", action="store_true", help="only statops (the naive way takes minutes)")
    parser.add_argument("--home", type=Path, default=None, help="reuse (or build and keep) this workspace")
    parser.add_argument("--measure", nargs=3, metavar=("HOME", "WAY", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1], int(args.measure[2]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp) / "ws"
        if not (home / "statops.toml").exists():
            home.parent.mkdir(parents=True, exist_ok=True)
            build(home, args.rows, args.database_url)
        results = {}
        for way in ("statops",) if args.skip_naive else ("statops", "naive"):
            out = subprocess.run([sys.executable, __file__, "--measure", str(home), way, str(args.rows)],
                                 capture_output=True, text=True, check=True)
            results[way] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nAll signals over one window of {args.rows:,} logged predictions "
          f"({'PostgreSQL' if args.database_url else 'SQLite'}):")
    print(f"{'way':<10}{'read s':>9}{'rest s':>9}{'total s':>9}{'warm s':>9}{'peak MB':>9}{'alerts':>8}")
    for way, r in results.items():
        print(f"{way:<10}{r['read_s']:>9.2f}{r['monitor_s']:>9.2f}{r['total_s']:>9.2f}{r.get('warm_s', 0):>9.2f}"
              f"{r['peak_rss_mb']:>9.0f}{r['alerts']:>8.0f}")
    OUT.mkdir(exist_ok=True)
    (OUT / "monitoring.json").write_text(json.dumps({"rows": args.rows, "backend": "postgresql" if args.database_url
                                                     else "sqlite", "results": results}, indent=2))


if __name__ == "__main__":
    main()
