"""Load on a real `textclf serve`: throughput and latency at 1, 8 and 64 concurrent clients, with
micro-batching on and off, and the answer to a 10x overload.

The server runs in its own process on 127.0.0.1 (a bag_of_ngrams trained on sms_spam.csv for 3
epochs); the clients are an asyncio httpx client in this process, each sending one SMS per
request, back to back, for a fixed number of requests. Both share the same 2 cores, so the
numbers are a lower bound for a server with a machine to itself. Overload: requests are sent
open-loop at 10x the throughput measured with 8 clients for a few seconds against a server
whose queue holds at most ``--overload-queue`` texts, with requests of ``--overload-texts`` texts
(so that this client can offer 10x); the table gives the share answered 503 and the latency of
the accepted ones.

    TEXTCLF_DATA=../shared/data python benchmarks/serve_load.py [--no-locust] [--write]

With locust installed (the bench extra), 64 locust users (gevent, ``benchmarks/serve_locustfile.py``)
load the server again, once as one process and once as ``--workers 2``: a load generator that
costs the shared cores far less per request than the asyncio loop above.

Cold start: the same model served from its checkpoint and from its ONNX export (``textclf
export``; a server of exports never imports torch), as 1 and 2 processes: the seconds from
starting ``textclf serve`` to its first answer to /health, best of ``--start-repeats``, and the
resident memory of all its processes after answering one request (psutil, from the bench extra).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

from lib.results import markdown_table, write_section

import textclf
from textclf.data import load_corpus


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _server(checkpoint: Path, *options: str, poll: float = 0.2):
    """``textclf serve`` on a free loopback port, asked for /health every ``poll`` seconds until it
    answers: yields its URL, its process and the seconds from its start to that first answer."""
    port = _free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "textclf", "serve", "--checkpoint", str(checkpoint),
                                "--port", str(port), "--log-level", "warning", *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > 120:
                raise RuntimeError(f"{checkpoint}: the server did not start")
            time.sleep(poll)
        yield url, process, time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(30)


def _cold_start_rows(checkpoint: Path, export: Path, repeats: int) -> list[dict]:
    """Seconds to the first /health answer (best of ``repeats``) and resident MB of every server
    process after one answered request, for the checkpoint and its export, 1 and 2 processes."""
    import psutil

    rows = []
    for name, path in (("checkpoint (PyTorch)", checkpoint), ("ONNX export (no torch)", export)):
        for workers in (1, 2):
            starts, memory = [], 0.0
            for _ in range(repeats):
                with _server(path, "--workers", str(workers), poll=0.02) as (url, process, seconds):
                    starts.append(seconds)
                    for _ in range(2 * workers):  # (each process answers one at least, most likely)
                        httpx.post(f"{url}/predict", json={"texts": ["free entry: win a prize now"]}, timeout=30)
                    tree = psutil.Process(process.pid)
                    memory = sum(p.memory_info().rss for p in [tree, *tree.children(recursive=True)]) / 2**20
            rows.append({"model": name, "workers": workers, "start_s": min(starts), "memory_mb": memory})
    return rows


async def _closed_loop(url: str, texts: list[str], clients: int, requests: int, per_request: int = 1) -> dict:
    latencies: list[float] = []
    codes: list[int] = []
    counter = iter(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        for i in counter:
            started = time.perf_counter()
            r = await http.post(f"{url}/predict", json={"texts": [texts[(i + j) % len(texts)] for j in range(per_request)]})
            latencies.append(time.perf_counter() - started)
            codes.append(r.status_code)

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=clients), timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        seconds = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {"requests_per_s": len(codes) / seconds, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "errors": sum(c != 200 for c in codes)}


async def _open_loop(url: str, texts: list[str], rate: float, seconds: float, per_request: int) -> dict:
    results: list[tuple[int, float]] = []

    async def one(http: httpx.AsyncClient, i: int) -> None:
        started = time.perf_counter()
        try:
            r = await http.post(f"{url}/predict", json={"texts": [texts[(i + j) % len(texts)] for j in range(per_request)]})
            results.append((r.status_code, time.perf_counter() - started))
        except httpx.HTTPError:
            results.append((0, time.perf_counter() - started))

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=512), timeout=60) as http:
        tasks, started, i = [], time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            tasks.append(asyncio.create_task(one(http, i)))
            i += 1
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        await asyncio.gather(*tasks)
    accepted = np.array([s for c, s in results if c == 200]) * 1000
    return {"sent": len(results), "rate": rate, "share_503": sum(c == 503 for c, _ in results) / len(results),
            "failed": sum(c not in (200, 503) for c, _ in results),
            "accepted_p50_ms": float(np.percentile(accepted, 50)) if len(accepted) else None,
            "accepted_p99_ms": float(np.percentile(accepted, 99)) if len(accepted) else None}


def _locust_rows(checkpoint: Path, texts: list[str], seconds: float) -> list[dict]:
    """64 locust users, one SMS a request, against 1 and 2 server processes: requests/s, p50,
    p99 and failures from locust's own statistics (its aggregated row)."""
    import csv
    import json
    import os

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "texts.json"
        source.write_text(json.dumps(texts), encoding="utf-8")
        for workers in (1, 2):
            with _server(checkpoint, "--workers", str(workers)) as (url, _, _):
                print(f"locust, 64 users, {workers} server process(es) ...", file=sys.stderr, flush=True)
                prefix = Path(tmp) / f"w{workers}"
                subprocess.run(["locust", "-f", str(Path(__file__).with_name("serve_locustfile.py")), "--headless",
                                "-u", "64", "-r", "64", "--run-time", f"{seconds:g}s", "--host", url,
                                "--csv", str(prefix), "--only-summary", "--stop-timeout", "5", "--loglevel", "ERROR"],
                               env={**os.environ, "SERVE_LOAD_TEXTS": str(source)}, check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                with open(f"{prefix}_stats.csv", encoding="utf-8") as f:
                    total = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
            rows.append({"workers": workers, "clients": 64, "requests": int(total["Request Count"]),
                         "requests_per_s": float(total["Requests/s"]), "p50_ms": float(total["50%"]),
                         "p99_ms": float(total["99%"]), "errors": int(total["Failure Count"])})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per closed-loop row")
    parser.add_argument("--overload-seconds", type=float, default=5.0)
    parser.add_argument("--overload-queue", type=int, default=256)
    parser.add_argument("--overload-texts", type=int, default=64, help="texts per request under overload")
    parser.add_argument("--locust", action=argparse.BooleanOptionalAction, default=True,
                        help="also load the server with locust (the bench extra), 64 users, 1 and 2 server processes")
    parser.add_argument("--locust-seconds", type=float, default=20.0, help="seconds of each locust row")
    parser.add_argument("--start-repeats", type=int, default=3, help="cold starts timed per row (best kept)")
    parser.add_argument("--write", action="store_true", help="replace the serve-load section of RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = {"name": "sms", "output_dir": tmp, "data": {"source": "files", "train": "sms_spam.csv"},
                  "model": {"name": "bag_of_ngrams", "tfidf": True}, "train": {"epochs": 3, "lr": 0.05}}
        run = textclf.train(config, run_dir=Path(tmp) / "run")
        texts = load_corpus(textclf.load_config(run.layout.config))["test"].texts
        rows = []
        for batching in (True, False):
            with _server(run.best_checkpoint, *([] if batching else ["--no-batching"])) as (url, _, _):
                asyncio.run(_closed_loop(url, texts, 8, 200))  # warm up
                for clients in (1, 8, 64):
                    print(f"batching {batching}, {clients} clients ...", file=sys.stderr, flush=True)
                    row = asyncio.run(_closed_loop(url, texts, clients, args.requests))
                    rows.append({"batching": "on" if batching else "off", "clients": clients, **row})
        with _server(run.best_checkpoint, "--max-queue-texts", str(args.overload_queue)) as (url, _, _):
            print("overload ...", file=sys.stderr, flush=True)
            # Requests of many texts, so that 10x the server's capacity is a request rate this
            # client can offer: capacity first (closed loop, 8 clients), then 10x of it, open loop.
            size = args.overload_texts
            capacity = asyncio.run(_closed_loop(url, texts, 8, 200, size))["requests_per_s"]
            over = asyncio.run(_open_loop(url, texts, 10 * capacity, args.overload_seconds, size))
            healthy = httpx.get(f"{url}/health").status_code == 200
        locust_rows = _locust_rows(run.best_checkpoint, texts, args.locust_seconds) if args.locust else []
        print("cold starts ...", file=sys.stderr, flush=True)
        export = Path(tmp) / "onnx"
        subprocess.run([sys.executable, "-m", "textclf", "export", "--checkpoint", str(run.best_checkpoint),
                        "--output", str(export)], check=True, stdout=subprocess.DEVNULL)
        cold = _cold_start_rows(run.best_checkpoint, export, args.start_repeats)
    table = markdown_table(rows, [
        ("batching", "micro-batching", ""), ("clients", "clients", "d"), ("requests_per_s", "requests/s", ",.0f"),
        ("p50_ms", "p50 ms", ".1f"), ("p99_ms", "p99 ms", ".1f"), ("errors", "non-200", "d"),
    ])
    overload = markdown_table([{**over, "share_503": 100 * over["share_503"], "healthy": "yes" if healthy else "NO",
                                "capacity": capacity}], [
        ("capacity", "capacity requests/s", ",.0f"), ("rate", "offered requests/s", ",.0f"), ("sent", "sent", ",d"), ("share_503", "answered 503 %", ".1f"),
        ("failed", "other failures", "d"), ("accepted_p50_ms", "accepted p50 ms", ".1f"),
        ("accepted_p99_ms", "accepted p99 ms", ".1f"), ("healthy", "/health after", ""),
    ])
    body = (f"bag_of_ngrams (TF-IDF) on sms_spam.csv, one SMS per request, {args.requests:,} requests per row; "
            "server and clients share the 2 cores.\n\n" + table +
            f"\n\nOverload: requests of {args.overload_texts} texts; capacity measured with 8 clients, then "
            f"an open loop at 10x that rate for {args.overload_seconds:g} s; the server holds at most "
            f"{args.overload_queue} texts (queued or in the model).\n\n" + overload)
    if locust_rows:
        body += ("\n\nThe same one-SMS requests from locust (`locust -f benchmarks/serve_locustfile.py "
                 f"--headless`: 64 users in gevent, {args.locust_seconds:g} s a row), against one server process "
                 "and against `--workers 2`:\n\n" + markdown_table(locust_rows, [
                     ("workers", "server processes", "d"), ("clients", "clients", "d"),
                     ("requests", "requests", ",d"), ("requests_per_s", "requests/s", ",.0f"),
                     ("p50_ms", "p50 ms", ".0f"), ("p99_ms", "p99 ms", ".0f"), ("errors", "failures", "d")]))
    body += ("\n\nCold start: from starting `textclf serve` to its first answer to /health (best of "
             f"{args.start_repeats}), and the resident memory of all its processes after a request, the same "
             "model from its checkpoint and from its ONNX export:\n\n" + markdown_table(cold, [
                 ("model", "served from", ""), ("workers", "server processes", "d"),
                 ("start_s", "seconds to /health", ".2f"), ("memory_mb", "resident MB, all processes", ",.0f")]))
    print(body)
    if args.write:
        write_section("serve-load", "Serving: throughput, latency and overload", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
