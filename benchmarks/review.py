"""Review queue speed: `GET /v1/review/next` with 100,000 items queued and 8 coders at once, against a real
`statops serve`. Each coder (a thread with its own keep-alive connection and API token) asks for the next
item, looks at it for `--pause` seconds (drawn uniformly between half and one and a half times it), then
answers it with the model's own code (`POST /v1/review/{id}`), for `--seconds`; the latency of every
`next` and every answer is recorded. Each coder's first `next` is reported on its own line (`first`): the
server looks its token up then, and here all the coders start in the same millisecond.

A person takes tens of seconds over a record; `--pause 1` (the default) is far quicker than that, and
`--pause 0` is a stress test: eight clients that never stop asking keep the server's CPU busy, so each
request waits for the others (latency = clients x service time on a saturated worker).

    python benchmarks/review.py [--items 100000] [--coders 8] [--seconds 120] [--pause 1] [--workers 1]

The workspace is `statops demo`'s (a model trained on the bundled SOC2010 data; its store is the one
STATOPS_DATABASE_URL names, else SQLite), with `--items` logged
predictions decided `review` (texts of the test split, repeated), queued before the clock starts. Prints a
table and writes benchmarks/out/review-pause{PAUSE}.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serving import free_port, start_statops, stop  # noqa: E402

from statops import Workspace  # noqa: E402
from statops.accounts import Actor, add_user, create_token  # noqa: E402
from statops.demo import MODEL_NAME, bundled_file, run_demo  # noqa: E402
from statops.errors import Conflict  # noqa: E402
from statops.registry import load_model, resolve_model  # noqa: E402
from statops.review import queue_counts  # noqa: E402
from statops.scoring import new_id, write_rows  # noqa: E402

OUT = HERE / "out"


def fill_queue(ws: Workspace, model: str, items: int) -> None:
    """`items` logged predictions decided `review`, queued."""
    ref = resolve_model(ws, model)
    texts = pd.read_csv(bundled_file("test.csv.gz"), dtype=str, keep_default_na=False)["text"]
    answers = load_model(ws, ref).predict_frame(texts)
    rng = np.random.default_rng(0)
    start = datetime.now(UTC) - timedelta(hours=2)
    for first in range(0, items, 20_000):
        pick = rng.integers(0, len(texts), min(20_000, items - first))
        write_rows(ws.store, [
            {"id": new_id(), "at": start + timedelta(seconds=(first + n) / 100), "model": model,
             "version": ref.version, "alias": None, "source": "batch", "request_id": f"bench-{first}",
             "input_sha256": "0" * 64, "input_text": texts.iat[i], "text_length": len(texts.iat[i]),
             "code": answers["code"].iat[i],
             "confidence": float(answers["confidence"].iat[i]), "decision": "review",
             "alternatives": answers["alternatives"].iat[i], "requested_by": "bench"}
            for n, i in enumerate(pick)])
    started = time.perf_counter()
    counts = queue_counts(ws, model)
    print(f"queued {counts['open']:,} open items in {time.perf_counter() - started:.1f} s", flush=True)


def coder_token(ws: Workspace, n: int) -> str:
    local = Actor(ws.settings.actor, "admin", "local")
    try:
        add_user(ws, local, f"bench-coder-{n}", "coder")
    except Conflict:
        pass
    return create_token(ws, local, f"bench-coder-{n}", label=f"benchmark {uuid.uuid4().hex[:6]}")[1]


def code(port: int, token: str, model: str, until: float, pause: float, out: dict[str, list[float]]) -> None:
    rng = np.random.default_rng(int.from_bytes(token.encode()[-4:], "big"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    first = True  # a coder's first request (its token looked up) goes to "first": all eight start at once here
    while time.perf_counter() < until:
        started = time.perf_counter()
        connection.request("GET", f"/v1/review/next?model={model}", headers=headers)
        response = connection.getresponse()
        body = response.read()
        out["first" if first else "next"].append(time.perf_counter() - started)
        first = False
        if response.status != 200:
            out["errors"].append(response.status)
            return
        item = json.loads(body)
        if pause > 0:
            time.sleep(pause * rng.uniform(0.5, 1.5))
        started = time.perf_counter()
        connection.request("POST", f"/v1/review/{item['id']}", headers=headers,
                           body=json.dumps({"answer": item["code"], "seconds": 5.0}))
        answer = connection.getresponse()
        answer.read()
        out["answer"].append(time.perf_counter() - started)
        if answer.status != 200:
            out["errors"].append(answer.status)


def percentiles(values: list[float]) -> dict[str, float]:
    ms = np.array(values) * 1000
    return {"count": len(values), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--coders", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds a coder looks at an item (0: stress)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "demo"
        print("Building the demo workspace (statops demo)...", flush=True)
        run_demo(home).workspace.close()
        ws = Workspace.open(home)
        store = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(ws.store.engine.dialect.name, "?")
        fill_queue(ws, MODEL_NAME, args.items)
        tokens = [coder_token(ws, n) for n in range(args.coders)]
        ws.close()
        port = free_port()
        server = start_statops(home, MODEL_NAME, port, args.workers)
        out: dict[str, list[Any]] = {"first": [], "next": [], "answer": [], "errors": []}
        try:
            until = time.perf_counter() + args.seconds
            threads = [threading.Thread(target=code, args=(port, t, MODEL_NAME, until, args.pause, out))
                       for t in tokens]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            stop(server)
        result = {"items": args.items, "coders": args.coders, "seconds": args.seconds, "pause": args.pause,
                  "workers": args.workers,
                  "store": store, "cpus": os.cpu_count(), "first": percentiles(out["first"]),
                  "next": percentiles(out["next"]),
                  "answer": percentiles(out["answer"]), "errors": len(out["errors"]),
                  "items_per_second": len(out["answer"]) / args.seconds}
        print(f"{args.items:,} items, {args.coders} coders pausing {args.pause:g} s, {store}, "
              f"{args.workers} worker(s), {os.cpu_count()} CPUs")
        print(f"{'':8}{'count':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for kind in ("first", "next", "answer"):
            p = result[kind]
            print(f"{kind:8}{p['count']:>8,}{p['p50_ms']:>9.1f}{p['p95_ms']:>9.1f}{p['p99_ms']:>9.1f}{p['max_ms']:>9.1f}")
        print(f"answered {result['items_per_second']:.0f} items/s; {result['errors']} errors")
        OUT.mkdir(exist_ok=True)
        (OUT / f"review-pause{args.pause:g}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
