"""Monitoring speed: every statops signal over one window of 1M logged predictions against a 20k-record
reference, side by side in one run with Evidently's data-drift report (DataDriftPreset) on the same
columns, with and without the text column; optionally also the naive way (`read_predictions`, every
column through the ORM, then the same signals).

The workspace holds a model trained on the bundled SOC2010 train split, its reference profile made from a
20,000-record dataset drawn from the held-out dev and test splits (with repetition, as in live survey
data), and N logged predictions drawn from the same records (with repetition; a tenth with their
qualifiers removed, so there is a mild shift to find), spread over a week. On PostgreSQL the log is
vacuumed after the bulk insert, as autovacuum would do. With `--control`, each tool
also looks at the window less those tenth: what it says when there is no shift.

Evidently gets the same columns — confidence, predicted code, text length and the text — of the
reference's 20,000 records and of the N logged predictions, exported once to Parquet, and runs in its own
virtual environment (it needs pandas < 3; statops has pandas 3), through benchmarks/monitoring_evidently.py:

    python3 -m venv benchmarks/.venv-evidently
    benchmarks/.venv-evidently/bin/pip install evidently==0.7.23 "pandas<3" pyarrow

Each measurement runs in its own process (peak memory from ru_maxrss); only the computation is timed
(statops: the `monitor` call, reading the log included; Evidently: building its datasets and running the
report, reading the Parquet files not included).

    python benchmarks/monitoring.py [--rows 1000000] [--keep DIR] [--repeat 2] [--control] [--naive]
                                    [--skip-evidently] [--database-url postgresql://...]

Prints a table and writes benchmarks/out/monitoring.json. `--keep DIR` builds the workspace (minutes)
and the Parquet files in DIR once and reuses them in later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
INSERT_ROWS = 50_000
REFERENCE_ROWS = 20_000
EVIDENTLY_PYTHON = HERE / ".venv-evidently" / "bin" / "python"
EVIDENTLY_COLUMNS = ("confidence", "code", "text_length", "text")


def build(home: Path, rows: int, database_url: str | None) -> None:
    """A trained model and `rows` logged predictions in a new workspace at `home`."""
    from statops import Workspace
    from statops.classifications import add_classification
    from statops.data import add_dataset
    from statops.demo import bundled_file
    from statops.monitoring.reference_store import reference_from_dataset
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
    # reference and window both draw from the held-out records (dev and test, 5,661 index entries): the
    # same population, so that the one difference is the shift; the reference replaces the dev profile
    held_out = pd.concat([pd.read_csv(folder / f"{split}.csv", dtype=str, keep_default_na=False)
                          for split in ("dev", "test")], ignore_index=True)
    held_out.to_csv(folder / "held_out.csv", index=False)
    held_out.sample(REFERENCE_ROWS, replace=True, random_state=1).to_csv(folder / "reference.csv", index=False)
    add_dataset(ws, "soc-reference", folder / "reference.csv", "text", "soc2010", "soc2010")
    profile = reference_from_dataset(ws, ref, "soc-reference")
    print(f"reference profile of {profile.records:,} records", flush=True)
    texts = pd.concat([held_out["text"], held_out["title"]], ignore_index=True)
    answers = load_model(ws, ref).predict_frame(texts)
    rng = np.random.default_rng(0)
    n = len(held_out)
    weights = np.r_[np.full(n, 0.9 / n), np.full(n, 0.1 / n)]  # a tenth: the title alone, no qualifier
    start = datetime.now(UTC) - timedelta(days=7)
    started = time.perf_counter()
    for first in range(0, rows, INSERT_ROWS):
        n = min(INSERT_ROWS, rows - first)
        pick = rng.choice(len(texts), n, p=weights)
        at = start + timedelta(days=7) * (first / rows)
        write_rows(ws.store, [
            {"id": new_id(), "at": at, "model": "occupation", "version": ref.version, "alias": None,
             "source": "batch", "request_id": f"bench-{first}", "input_sha256": "0" * 64,
             "input_text": texts.iat[i], "text_length": len(texts.iat[i]), "code": answers["code"].iat[i],
             "confidence": float(answers["confidence"].iat[i]),
             "decision": answers["decision"].iat[i], "alternatives": "[]", "requested_by": "bench"}
            for i in pick])
    print(f"logged {rows:,} predictions in {time.perf_counter() - started:.0f} s", flush=True)
    if ws.store.engine.dialect.name == "postgresql":
        # what autovacuum does after a bulk insert: until the visibility map is set, PostgreSQL checks every
        # row of an index-only scan against the table
        with ws.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE prediction_log")
    ws.close()


def export_columns(home: Path, folder: Path) -> tuple[Path, Path]:
    """The columns Evidently compares, as Parquet: the reference's records (the model's answers on the
    dataset its profile was built from) and every logged prediction, oldest first. Written once."""
    reference_file, current_file = folder / "reference.parquet", folder / "current.parquet"
    if reference_file.exists() and current_file.exists():
        return reference_file, current_file
    from sqlalchemy import func, select

    from statops import Workspace
    from statops.data import get_dataset, load_dataset
    from statops.monitoring.reference_store import load_reference
    from statops.registry import load_model, resolve_model
    from statops.scoring.prediction_log import TABLE, in_window

    folder.mkdir(parents=True, exist_ok=True)
    ws = Workspace.open(home)
    ref = resolve_model(ws, "occupation")
    profile = load_reference(ws, ref)
    info = get_dataset(ws, "soc-reference")
    assert profile is not None and profile.source == f"dataset {info.ref}", "no 20k reference: rebuild the workspace"
    texts = load_dataset(ws, info)[info.text_column].fillna("").astype(str).reset_index(drop=True)
    answers = load_model(ws, ref).predict_frame(texts)
    reference = pd.DataFrame({"confidence": answers["confidence"].to_numpy(dtype=float),
                              "code": answers["code"].astype(str).to_numpy(),
                              "text_length": texts.str.len().to_numpy(dtype=float), "text": texts.to_numpy()})
    # the same records as the stored profile: its confidences and lengths are these, in this order
    assert np.allclose(reference["confidence"].to_numpy(dtype=np.float32), profile.confidence)
    assert np.array_equal(reference["text_length"].to_numpy(dtype=np.int32), profile.text_length)
    query = in_window(select(TABLE.c.confidence, TABLE.c.code, func.length(TABLE.c.input_text), TABLE.c.input_text,
                             TABLE.c.decision), "occupation", ref.version).order_by(TABLE.c.at, TABLE.c.id)
    with ws.store.engine.connect() as connection:
        result = connection.execute(query)
        rows = result.cursor.fetchall() if result.cursor is not None else []
    current = pd.DataFrame(rows, columns=[*EVIDENTLY_COLUMNS, "decision"])
    current["confidence"] = current["confidence"].astype(float)
    current["text_length"] = current["text_length"].astype(float)
    # which records carry the shift (a title without its qualifier), for the no-shift control
    held_out = pd.read_csv(home.parent / "held_out.csv", dtype=str, keep_default_na=False)
    current["shifted"] = current["text"].isin(set(held_out["title"]) - set(held_out["text"]))
    reference.to_parquet(reference_file, index=False)
    current.to_parquet(current_file, index=False)
    print(f"exported {len(reference):,} reference and {len(current):,} window records for Evidently", flush=True)
    ws.close()
    return reference_file, current_file


def measure(home: Path, way: str, rows: int) -> dict[str, Any]:
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
    # imports are not timed, as Evidently's own is not: MLflow's store (above) and the modules that the
    # signals import on first use
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import sklearn.naive_bayes  # noqa: F401
    result: dict[str, Any] = {}
    started = time.perf_counter()
    if way == "control":  # the signals of the window less its shifted records, from the exported columns
        reference = load_reference(ws, ref)
        assert reference is not None
        frame = pd.read_parquet(home.parent / "evidently" / "current.parquet")
        frame = frame[~frame["shifted"]].reset_index(drop=True)
        rng = np.random.default_rng(0)
        texts = frame["text"].iloc[np.sort(rng.choice(len(frame), ws.settings.monitor_text_sample, replace=False))]
        data = WindowInput(frame[["code", "confidence", "decision", "text_length"]], texts.tolist(),
                           frame.iloc[0:0].assign(true_code="", source=""))
        signals = compute_signals(data, reference, ws.settings)
        result.update(total_s=time.perf_counter() - started, records=len(frame),
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        result["signals"] = {s.name: {"value": s.value, "status": s.status, "effect": s.effect, "note": s.note,
                                      "p_value": s.details.get("p_value")} for s in signals}
        ws.close()
        return result
    if way == "statops":
        cpu = time.process_time()
        outcome = monitor(ws, "occupation", window=str(rows), update_alerts_store=False)
        result["total_s"] = time.perf_counter() - started
        result["cpu_s"] = time.process_time() - cpu  # all threads: less sensitive than wall time to a busy machine
        result["records"] = outcome.latest.records if outcome.latest else 0
        result["alerts"] = sum(s.status == "alert" for s in outcome.latest.signals) if outcome.latest else 0
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["signals"] = {s.name: {"value": s.value, "status": s.status, "effect": s.effect, "note": s.note,
                                      "p_value": s.details.get("p_value")}
                             for s in (outcome.latest.signals if outcome.latest else [])}
        started, cpu = time.perf_counter(), time.process_time()  # again, warm: as in a server
        monitor(ws, "occupation", window=str(rows), update_alerts_store=False)
        result["warm_s"] = time.perf_counter() - started
        result["warm_cpu_s"] = time.process_time() - cpu
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


def _run_json(command: list[str]) -> dict[str, Any]:
    """Run one measurement in its own process; its last line of output is JSON."""
    load = os.getloadavg()[0]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load_before": load}


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(runs, key=lambda r: r["total_s"])
    return {**best, "runs_s": [round(r["total_s"], 3) for r in runs],
            "runs_peak_mb": [round(r["peak_rss_mb"]) for r in runs], "loads": [r["load_before"] for r in runs]}


def _versions(evidently_python: Path | None) -> dict[str, str]:
    from importlib.metadata import version

    found = {name: version(name) for name in ("statops", "numpy", "pandas", "scikit-learn", "scipy", "mlflow",
                                              "sqlalchemy")}
    found["python"] = platform.python_version()
    if evidently_python is not None:
        out = subprocess.run([str(evidently_python), "-c", "from importlib.metadata import version as v; "
                              "print(v('evidently'), v('pandas'), v('numpy'), v('scikit-learn'))"],
                             capture_output=True, text=True)
        if out.returncode == 0:
            ev, pd_, np_, sk = out.stdout.split()
            found.update({"evidently": ev, "evidently_env": f"pandas {pd_}, numpy {np_}, scikit-learn {sk}"})
    return found


def _shift_verdicts(results: dict[str, Any]) -> dict[str, Any]:
    """What each tool made of the built-in mild shift (a tenth of texts with their qualifiers removed)."""
    verdicts: dict[str, Any] = {}
    for key in ("statops", "control_statops"):
        signals = results.get(key, {}).get("signals", {})
        for name in ("text_drift", "text_length_shift", "out_of_vocabulary_rate", "confidence_shift",
                     "code_distribution_shift", "auto_coded_share"):
            if name in signals:
                verdicts[f"{key} {name}"] = {k: signals[name][k] for k in ("value", "status", "p_value")}
    for key in ("evidently_no_text", "evidently_text", "control_evidently_text"):
        for column, drift in results.get(key, {}).get("drift", {}).items():
            if not column.startswith("_"):
                verdicts[f"{key} {column}"] = drift
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", "--home", dest="home", type=Path, default=None,
                        help="build the workspace and the Parquet files in this folder once, and reuse them")
    parser.add_argument("--repeat", type=int, default=1, help="run each measurement this many times; keep the best")
    parser.add_argument("--naive", action="store_true", help="also the naive way (takes minutes)")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--evidently-python", type=Path, default=EVIDENTLY_PYTHON,
                        help="the Python of Evidently's virtual environment (default: benchmarks/.venv-evidently)")
    parser.add_argument("--control", action="store_true",
                        help="also each tool's verdicts on the window less its shifted records (once, not timed)")
    parser.add_argument("--measure", nargs=3, metavar=("HOME", "WAY", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", type=Path, metavar="HOME", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), args.measure[1], int(args.measure[2]))))
        return
    if args.prepare:  # in a process of its own: training would leave its peak in the measurements' ru_maxrss
        if not (args.prepare / "statops.toml").exists():
            build(args.prepare, args.rows, args.database_url)
        if not args.skip_evidently:
            export_columns(args.prepare, args.prepare.parent / "evidently")
        return
    evidently = None if args.skip_evidently else args.evidently_python
    if evidently is not None and not evidently.exists():
        print(f"no Evidently at {evidently} (see the top of this file to make its environment); statops only")
        evidently = None
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = (args.home / "ws") if args.home else Path(tmp) / "ws"
        home.parent.mkdir(parents=True, exist_ok=True)
        # ru_maxrss survives fork and exec: the measurements are started by this process, which stays small
        subprocess.run([sys.executable, __file__, "--prepare", str(home), "--rows", str(args.rows),
                        *(["--database-url", args.database_url] if args.database_url else []),
                        *(["--skip-evidently"] if evidently is None and not args.control else [])], check=True)
        measurements: dict[str, list[str]] = {
            "statops": [sys.executable, __file__, "--measure", str(home), "statops", str(args.rows)]}
        reference_file, current_file = (home.parent / "evidently" / f"{n}.parquet" for n in ("reference", "current"))
        helper = str(HERE / "monitoring_evidently.py")
        if evidently is not None:
            measurements["evidently_no_text"] = [str(evidently), helper, str(reference_file), str(current_file),
                                                 "--no-text"]
            measurements["evidently_text"] = [str(evidently), helper, str(reference_file), str(current_file)]
        if args.naive:
            measurements["naive"] = [sys.executable, __file__, "--measure", str(home), "naive", str(args.rows)]
        runs: dict[str, list[dict[str, Any]]] = {way: [] for way in measurements}
        for _ in range(args.repeat):  # interleaved, so that a busy spell does not fall on one tool only
            for way, command in measurements.items():
                runs[way].append(_run_json(command))
                print(f"  {way}: {runs[way][-1]['total_s']:.2f} s", flush=True)
        results = {way: _best(r) for way, r in runs.items()}
        if args.control:  # no shift: the same window less the records whose qualifier was removed
            results["control_statops"] = _run_json(
                [sys.executable, __file__, "--measure", str(home), "control", str(args.rows)])
            if evidently is not None:
                results["control_evidently_text"] = _run_json(
                    [str(evidently), helper, str(reference_file), str(current_file), "--unshifted"])

    base = results["statops"]["total_s"]
    print(f"\nAll signals over one window of {args.rows:,} logged predictions against a {REFERENCE_ROWS:,}-record "
          f"reference ({'PostgreSQL' if args.database_url else 'SQLite'}; best of {args.repeat}; "
          f"{os.cpu_count()} cores):")
    labels = {"statops": ("statops", "all signals, text drift included"),
              "evidently_no_text": ("Evidently", "DataDriftPreset: confidence, code, text length"),
              "evidently_text": ("Evidently", "DataDriftPreset: the same and the text"),
              "naive": ("naive", "all signals, every column through the ORM")}
    print(f"{'tool':<11}{'what':<50}{'time s':>9}{'cpu s':>8}{'warm s':>9}{'peak MB':>9}{'x statops':>10}{'load':>6}")
    for way, r in results.items():
        if way.startswith("control"):
            continue
        tool, what = labels[way]
        print(f"{tool:<11}{what:<50}{r['total_s']:>9.2f}{r.get('cpu_s', float('nan')):>8.2f}"
              f"{r.get('warm_s', float('nan')):>9.2f}"
              f"{r['peak_rss_mb']:>9.0f}{r['total_s'] / base:>10.1f}{min(r['loads']):>6.1f}")
    verdicts = _shift_verdicts(results)
    print("\nThe mild shift (a tenth of the texts without their qualifiers; control_: the window less those records):")
    for name, v in verdicts.items():
        if "statops" in name:
            print(f"  {name:<40} {v['value'] if v['value'] is None else round(v['value'], 4)!s:>8}  {v['status']}")
        else:
            print(f"  {name:<40} {v['score']:>8.4f}  {'drift' if v['drift'] else 'no drift'} "
                  f"({v['method']}, threshold {v['threshold']})")
    OUT.mkdir(exist_ok=True)
    (OUT / "monitoring.json").write_text(json.dumps({
        "rows": args.rows, "reference_rows": REFERENCE_ROWS,
        "backend": "postgresql" if args.database_url else "sqlite", "repeat": args.repeat,
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "versions": _versions(evidently), "results": results,
        "speedup": {way: r["total_s"] / base for way, r in results.items() if way in labels and way != "statops"},
        "mild_shift": verdicts}, indent=2, default=str))


if __name__ == "__main__":
    main()
