"""Evidently's data-drift report (DataDriftPreset) on the columns benchmarks/monitoring.py exports, in the
Python of Evidently's own virtual environment (not statops's): run by that benchmark, one process per
measurement, so that the peak memory (ru_maxrss) is this report's alone.

    benchmarks/.venv-evidently/bin/python benchmarks/monitoring_evidently.py REFERENCE CURRENT [--no-text]

(REFERENCE and CURRENT: Parquet files.)

Reads both files (not timed), builds Evidently's datasets and runs the report (timed), and prints one JSON
line: the seconds, the peak resident memory, and each column's drift method, score and verdict.
Needs only evidently and pyarrow; imports nothing from statops.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any

NUMERICAL = ["confidence", "text_length"]
CATEGORICAL = ["code"]
TEXT = ["text"]


def _column_drifts(snapshot: Any) -> dict[str, dict[str, Any]]:
    """Per column: the drift method, the score (a distance, or the text domain classifier's ROC AUC),
    the threshold and whether Evidently calls it drift, from the snapshot's ValueDrift metrics."""
    out: dict[str, dict[str, Any]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift") and "column" in config:
            score = float(metric["value"])
            method = config.get("method")
            threshold = config.get("threshold")
            # Evidently's rule: a p-value below the threshold, or a distance (or AUC) above it
            drift = score < threshold if "p_value" in str(method).lower() else score > threshold
            out[config["column"]] = {"method": method, "score": score, "threshold": threshold, "drift": drift}
        elif config.get("type", "").endswith("DriftedColumnsCount"):
            out["_drifted_columns"] = {"count": metric["value"]["count"], "share": metric["value"]["share"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--no-text", action="store_true", help="leave the text column out")
    parser.add_argument("--unshifted", action="store_true",
                        help="leave out the current records marked `shifted` (a no-shift control)")
    args = parser.parse_args()

    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    text = [] if args.no_text else TEXT
    columns = NUMERICAL + CATEGORICAL + text
    reference = pd.read_parquet(args.reference, columns=columns)
    current = pd.read_parquet(args.current, columns=columns + (["shifted"] if args.unshifted else []))
    if args.unshifted:
        current = current[~current.pop("shifted")].reset_index(drop=True)
    loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    started, cpu = time.perf_counter(), time.process_time()
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL, text_columns=text)
    current_ds = Dataset.from_pandas(current, data_definition=definition)
    reference_ds = Dataset.from_pandas(reference, data_definition=definition)
    datasets_s = time.perf_counter() - started
    snapshot = Report([DataDriftPreset()]).run(current_ds, reference_ds)
    total_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu  # all threads
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(json.dumps({
        "tool": "evidently", "version": evidently.__version__, "text": not args.no_text,
        "reference_rows": len(reference), "current_rows": len(current), "columns": columns,
        "total_s": total_s, "cpu_s": cpu_s, "datasets_s": datasets_s, "report_s": total_s - datasets_s,
        "peak_rss_mb": peak_mb, "loaded_rss_mb": loaded_mb, "drift": _column_drifts(snapshot),
    }))


if __name__ == "__main__":
    main()
