"""Online serving: `statops serve` against `mlflow models serve`, the same model on the same machine.

Both servers serve the same registered version with the same number of worker processes; `wrk`
(Debian package `wrk`) drives both with the same texts (the distinct answers of the bundled SOC2010
test file) at the same concurrency, for single-record requests and 100-record batches. statops
runs with prediction logging on (to the workspace's SQLite store; each answer waits for its log
commit) and with its API token check on: wrk sends a `coder`'s token, made for the run and revoked
after it (the mlflow peer has no authentication and gets none). The token check's own cost per
request is also measured in-process, with and without it on the same route. Then statops alone is
run paced at half its own measured single-record maximum, for the latency target, and optionally
for a soak: steady load for --soak seconds, sampling the server's memory, then a graceful stop,
checking that every answered prediction is in the log. With
--kill-trials N, statops is then killed with SIGKILL under load N times, and the ids the clients
were answered are looked up in the log (none may be missing).

    python benchmarks/serving.py [--home DIR] [--model soc2010-coder] [--seconds 20] [--soak 600]
                                 [--kill-trials 3] [--addresses]

Without --home, builds the demo workspace (statops demo) in a temporary folder first. A coder keeps the
answers of texts it has seen, so after the first pass through the texts both servers answer from memory.
Prints a table and writes benchmarks/out/serving.json.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from statops import Workspace
from statops.accounts import Actor, add_user, create_token, revoke_token
from statops.demo import ADDRESSES, CODING, MODEL_NAME, bundled_file, run_demo
from statops.errors import Conflict
from statops.registry import resolve_model
from statops.store.schema import PredictionLogEntry

HERE = Path(__file__).parent
WRK_SCRIPT = HERE / "serving_wrk.lua"
OUT = HERE / "out" / "serving.json"
BATCH = 100
BENCH_USER = "benchmark"  # a coder: may predict
TOKEN: dict[str, str] = {}  # the run's API token, sent to statops (never printed)


def make_token(ws: Workspace) -> str:
    """A new token of the `benchmark` user (a coder, added if missing), for this run only."""
    local = Actor(ws.settings.actor, "admin", "local")
    try:
        add_user(ws, local, BENCH_USER, "coder")
    except Conflict:
        pass
    info, secret = create_token(ws, local, BENCH_USER, label="benchmarks/serving.py")
    TOKEN.update(id=info.id, secret=secret)
    return secret


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN['secret']}"} if TOKEN else {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback only)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before {url} answered")
        if http_get(url)[0] == 200:
            return
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), MiB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                    text=True).stdout.split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def write_bodies(folder: Path, texts: list[str]) -> dict[str, Path]:
    """One JSON body per line, for each server's format, single records and batches."""
    files = {}
    shapes = {
        "statops": lambda chunk: {"records": [{"text": t} for t in chunk]},
        "mlflow": lambda chunk: {"dataframe_records": [{"text": t} for t in chunk]},
    }
    for server, shape in shapes.items():
        for size in (1, BATCH):
            path = folder / f"{server}_{size}.jsonl"
            with path.open("w", encoding="utf-8") as handle:
                for start in range(0, len(texts) - size + 1, size):
                    handle.write(json.dumps(shape(texts[start:start + size])) + "\n")
            files[f"{server}_{size}"] = path
    return files


def wrk_env(token: str | None) -> dict[str, str]:
    """wrk's environment: the token for serving_wrk.lua (in the environment, not on a command line)."""
    env = {k: v for k, v in os.environ.items() if k != "SERVING_WRK_TOKEN"}
    if token:
        env["SERVING_WRK_TOKEN"] = token
    return env


def run_wrk(url: str, path: str, bodies: Path, seconds: float, connections: int,
            delay_ms: float = 0.0, token: str | None = None) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "30s", "-s", str(WRK_SCRIPT),
               url, "--", str(bodies), path, f"{delay_ms:.3f}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=wrk_env(token)).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    seconds_run = result["duration_us"] / 1e6
    result["errors"] = sum(result[k] for k in ("status_errors", "connect_errors", "read_errors",
                                               "write_errors", "timeouts"))
    result["requests_per_s"] = result["requests"] / seconds_run
    return result


def start_statops(home: Path, model: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "statops", "serve", "--home", str(home), "--port", str(port),
               "--workers", str(workers), "--preload", model]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(f"http://127.0.0.1:{port}/readyz", process)
    return process


def start_mlflow(ws: Workspace, uri: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": ws.mlflow_uri, "MLFLOW_REGISTRY_URI": ws.mlflow_uri,
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    command = [mlflow, "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1",
               "-p", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_up(f"http://127.0.0.1:{port}/ping", process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_rows(ws: Workspace) -> int:
    with ws.store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(PredictionLogEntry.__table__)).scalar_one())


def predictions_answered(metrics_text: str) -> int:
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
                   if line.startswith("statops_predictions_total{")))


def measure(name: str, url: str, path: str, bodies: dict[str, Path], key: str, seconds: float,
            connections: dict[int, int], token: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for size in (1, BATCH):
        run_wrk(url, path, bodies[f"{key}_{size}"], 3, connections[size], token=token)  # warm-up
        result = run_wrk(url, path, bodies[f"{key}_{size}"], seconds, connections[size], token=token)
        result.update(server=name, records_per_request=size, connections=connections[size],
                      records_per_s=result["requests_per_s"] * size)
        rows.append(result)
        print(f"  {name:>8} {size:>4} rec/req: {result['requests_per_s']:8.0f} req/s "
              f"{result['records_per_s']:9.0f} rec/s  p50 {result['p50_us'] / 1000:7.1f} ms  "
              f"p99 {result['p99_us'] / 1000:7.1f} ms  errors {result['errors']}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="workspace with a trained model (default: build the demo)")
    parser.add_argument("--model", help=f"default: {MODEL_NAME}, or {ADDRESSES.model} with --addresses")
    parser.add_argument("--addresses", action="store_true",
                        help="an address matcher: the address demo's model and its bundled test addresses")
    parser.add_argument("--workers", type=int, default=1, help="worker processes, for both servers")
    parser.add_argument("--seconds", type=float, default=20, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (single records)")
    parser.add_argument("--soak", type=float, default=0, help="seconds of steady paced load on statops")
    parser.add_argument("--kill-trials", type=int, default=0,
                        help="times statops is killed (SIGKILL) under load, counting answered ids not in the log")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    flow = ADDRESSES if args.addresses else CODING
    args.model = args.model or flow.model
    with tempfile.TemporaryDirectory() as tmp:
        if args.home is None:
            print("Building the demo workspace (statops demo)...", flush=True)
            run_demo(Path(tmp) / "demo", flow=flow).workspace.close()
            args.home = Path(tmp) / "demo"
        ws = Workspace.open(args.home)
        token = make_token(ws)
        ref = resolve_model(ws, args.model)
        texts = pd.read_csv(bundled_file("test.csv.gz", flow.folder), dtype=str, keep_default_na=False)["text"]
        texts = texts.drop_duplicates().sample(frac=1.0, random_state=0).tolist()
        bodies = write_bodies(Path(tmp), texts)
        connections = {1: args.connections, BATCH: max(2, args.connections // 4)}
        print(f"{ref.describe()}; {len(texts):,} distinct texts; {args.workers} worker(s); "
              f"{os.cpu_count()} CPUs", flush=True)

        rows: list[dict[str, Any]] = []
        sport, mport = free_port(), free_port()
        statops = start_statops(args.home, f"{ref.name}/{ref.version}", sport, args.workers)
        surl, spath = f"http://127.0.0.1:{sport}", f"/v1/models/{ref.name}/predict?version={ref.version}"
        try:
            rows += measure("statops", surl, spath, bodies, "statops", args.seconds, connections, token)
        finally:
            stop(statops)
        mlflow = start_mlflow(ws, ref.uri, mport, args.workers)
        try:
            rows += measure("mlflow", f"http://127.0.0.1:{mport}", "/invocations", bodies, "mlflow",
                            args.seconds, connections)
        finally:
            stop(mlflow)

        # Latency at half of statops's own single-record maximum, paced (and the soak, if asked).
        best = next(r for r in rows if r["server"] == "statops" and r["records_per_request"] == 1)
        target_rate = best["requests_per_s"] / 2
        paced_connections = 16
        statops = start_statops(args.home, f"{ref.name}/{ref.version}", sport, args.workers)
        soak: dict[str, Any] = {}
        try:
            delay_ms = calibrate_pause(surl, spath, bodies["statops_1"], paced_connections, target_rate)
            paced = run_wrk(surl, spath, bodies["statops_1"], args.seconds, paced_connections, delay_ms, token)
            paced.update(server="statops (paced at half max)", records_per_request=1,
                         connections=paced_connections, records_per_s=paced["requests_per_s"],
                         target_rate=target_rate)
            rows.append(paced)
            print(f"  paced at {paced['requests_per_s']:.0f} req/s (target {target_rate:.0f}): "
                  f"p50 {paced['p50_us'] / 1000:.1f} ms, p99 {paced['p99_us'] / 1000:.1f} ms", flush=True)
            if args.soak:
                soak = run_soak(ws, statops, surl, spath, bodies["statops_1"], args.soak, paced_connections,
                                delay_ms)
        finally:
            stop(statops)
        if soak:
            soak["logged_rows_after_stop"] = log_rows(ws) - soak.pop("log_rows_before")
            # Every record the server answered is in the log, and the server answered all wrk saw.
            soak["nothing_missing"] = (soak["logged_rows_after_stop"] == soak["answered_records"]
                                       and soak["answered_records"] >= soak["wrk_requests"])
            print(f"  soak: {soak}", flush=True)
        kills = [kill_trial(ws, args.home, ref, texts, args.workers) for _ in range(args.kill_trials)]
        for number, trial in enumerate(kills, 1):
            print(f"  SIGKILL trial {number}: {trial['answered']:,} predictions answered, "
                  f"{trial['missing']} missing from the log", flush=True)
        check = token_check_cost(ws, token, best["requests_per_s"])
        print(f"  token check: {check['microseconds']:.1f} us per request in-process, "
              f"{check['share_of_single_record_request']:.1%} of a single-record request at "
              f"{best['requests_per_s']:,.0f} requests/s", flush=True)
        revoke_token(ws, Actor(ws.settings.actor, "admin", "local"), TOKEN["id"])
        ws.close()

    report(rows, soak, args, kills, check)


def token_check_cost(ws: Workspace, token: str, requests_per_s: float, calls: int = 20_000) -> dict[str, Any]:
    """What checking a (cached) token adds to a request, in-process: the same FastAPI route called
    through statops' token middleware and with a `Permission` dependency, and without either; and
    that time as a share of a single-record request at the measured rate (one worker: its event
    loop's time per request is about 1 / requests per second)."""
    from types import SimpleNamespace

    from fastapi import Depends, FastAPI
    from fastapi.responses import Response

    from statops.serving.auth import Permission, TokenAuthentication, TokenCache

    app = FastAPI()

    async def ok() -> Response:
        return Response(b"ok")

    app.get("/v1/plain")(ok)
    app.get("/v1/checked", dependencies=[Depends(Permission("predict"))])(ok)
    app.state.runtime = SimpleNamespace(tokens=TokenCache(ws), ws=ws)  # what the server's runtime holds
    app.state.settings = SimpleNamespace(serve_metrics_public=False)
    checked = TokenAuthentication(app, metrics_public=False)

    def scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                "headers": [(b"host", b"bench"), *headers], "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 2), "app": app, "state": {}}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    async def per_call(target: Any, path: str, headers: list[tuple[bytes, bytes]]) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await target(scope(path, headers), receive, send)
        return (time.perf_counter() - started) / calls * 1e6

    async def run() -> tuple[float, float]:
        auth = [(b"authorization", f"Bearer {token}".encode())]
        await per_call(checked, "/v1/checked", auth)  # warm-up (and the one store look-up)
        plain = min([await per_call(app, "/v1/plain", []) for _ in range(3)])
        with_check = min([await per_call(checked, "/v1/checked", auth) for _ in range(3)])
        return plain, with_check

    plain, with_check = asyncio.run(run())
    cost = with_check - plain
    return {"microseconds": cost, "route_without_check_us": plain, "route_with_check_us": with_check,
            "share_of_single_record_request": cost * requests_per_s / 1e6}


def calibrate_pause(url: str, path: str, bodies: Path, connections: int, rate: float) -> float:
    """The pause before each request that paces `connections` connections to `rate` requests/s.

    Each connection sends one request per (pause + latency), so the pause is corrected by the gap
    between the wanted and the measured period, on short runs.
    """
    pause = max(0.0, connections / rate * 1000 - 5.0)
    for _ in range(4):
        measured = run_wrk(url, path, bodies, 5, connections, pause, TOKEN.get("secret"))["requests_per_s"]
        pause = max(0.0, pause + connections * 1000 * (1 / rate - 1 / measured))
    return pause


def run_soak(ws: Workspace, process: subprocess.Popen[bytes], url: str, path: str, bodies: Path,
             seconds: float, connections: int, delay_ms: float) -> dict[str, Any]:
    """Steady paced load; memory sampled every 10 s; answered records compared with the log."""
    while "statops_prediction_log_backlog_rows 0.0" not in http_get(url + "/metrics", auth_headers())[1]:
        time.sleep(0.1)  # earlier runs' rows are all written: the counts below start together
    before_log = log_rows(ws)
    before_answered = predictions_answered(http_get(url + "/metrics", auth_headers())[1])
    samples: list[tuple[float, float]] = []
    load = subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "30s",
                             "-s", str(WRK_SCRIPT), url, "--", str(bodies), path, f"{delay_ms:.3f}"],
                            stdout=subprocess.PIPE, text=True, env=wrk_env(TOKEN.get("secret")))
    started = time.monotonic()
    while load.poll() is None:
        samples.append((time.monotonic() - started, rss_mib(process.pid)))
        time.sleep(10)
    output = load.stdout.read() if load.stdout else ""
    result = json.loads(next(x for x in output.splitlines() if x.startswith("WRK_JSON ")).removeprefix("WRK_JSON "))
    answered = predictions_answered(http_get(url + "/metrics", auth_headers())[1]) - before_answered
    settled = [rss for t, rss in samples if t >= 60] or [rss for _, rss in samples]
    errors = sum(result[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "seconds": seconds, "wrk_requests": result["requests"], "errors": errors,
        "requests_per_s": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
        "rss_mib_at_1_min": settled[0], "rss_mib_at_end": settled[-1], "rss_mib_max": max(settled),
        "rss_growth": settled[-1] / settled[0] - 1, "rss_samples": samples,
        "answered_records": answered, "log_rows_before": before_log,
    }


def kill_trial(ws: Workspace, home: Path, ref: Any, texts: list[str], workers: int,
               clients: int = 8, seconds: float = 3.0) -> dict[str, Any]:
    """statops under load from `clients` keep-alive connections, killed with SIGKILL after `seconds`:
    how many predictions were answered, and how many of their ids the log lacks."""
    port = free_port()
    process = start_statops(home, f"{ref.name}/{ref.version}", port, workers)
    path = f"/v1/models/{ref.name}/predict?version={ref.version}"
    answered: list[str] = []
    stop_event = threading.Event()
    lock = threading.Lock()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = number * 997
        while not stop_event.is_set():
            i += 1
            body = json.dumps({"records": [{"text": texts[i % len(texts)]}]})
            try:
                connection.request("POST", path, body, {"Content-Type": "application/json", **auth_headers()})
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                time.sleep(0.05)
                continue
            if response.status == 200:
                with lock:
                    answered.extend(p["id"] for p in json.loads(data)["predictions"])
        connection.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    workers_pids = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    process.kill()  # the parent, then its workers (each would go on serving alone)
    for pid in workers_pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    time.sleep(0.3)
    stop_event.set()
    for thread in threads:
        thread.join(60)
    table = PredictionLogEntry.__table__
    found: set[str] = set()
    with ws.store.engine.connect() as connection:
        for start in range(0, len(answered), 500):
            chunk = answered[start:start + 500]
            found.update(connection.execute(select(table.c.id).where(table.c.id.in_(chunk))).scalars())
    return {"answered": len(answered), "missing": len(set(answered) - found)}


def report(rows: list[dict[str, Any]], soak: dict[str, Any], args: argparse.Namespace,
           kills: list[dict[str, Any]], token_check: dict[str, Any]) -> None:
    def find(server: str, size: int) -> dict[str, Any]:
        return next(r for r in rows if r["server"] == server and r["records_per_request"] == size)

    print()
    print("| server | records/request | connections | requests/s | records/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['server']} | {r['records_per_request']} | {r['connections']} | {r['requests_per_s']:,.0f} | "
              f"{r['records_per_s']:,.0f} | {r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | {r['errors']} |")
    ratios = {size: find("statops", size)["requests_per_s"] / find("mlflow", size)["requests_per_s"]
              for size in (1, BATCH)}
    print(f"\nstatops / mlflow throughput: {ratios[1]:.1f}x (single records), {ratios[BATCH]:.1f}x "
          f"({BATCH}-record batches)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "workers": args.workers, "seconds": args.seconds, "runs": rows, "ratios": ratios, "soak": soak,
        "kill_trials": kills, "token_check": token_check,
    }, indent=2), encoding="utf-8")
    print(f"Written to {OUT}")


if __name__ == "__main__":
    main()
