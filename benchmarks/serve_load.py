#!/usr/bin/env python3
"""Load on `mtts serve`: requests per second and p50/p95 latency of /api/tts for 1, 4 and 16
concurrent clients on loopback, with every answer checked (status 200, a wav of the length
the first answer had) and the server checked alive at the end.

usage: python benchmarks/serve_load.py [MODEL] [--clients 1,4,16] [--requests 4] [--max-seconds 120]
                                       [--text "..."] [--threads 2] [--json OUT]
Without MODEL: the tests' tiny untrained model, its durations fixed at 2 frames a phoneme.
The server runs as its own process (`mtts serve`, --queue as large as the most clients, so
none is refused) on a free port; each client sends --requests requests one after another,
a level stopping early once --max-seconds have passed. Prints a table and a JSON record.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def level(url: str, clients: int, requests: int, text: str, max_s: float, frames: int | None) -> dict:
    lat, bad = [], []
    stop = time.monotonic() + max_s

    def client():
        with httpx.Client(base_url=url, timeout=max_s + 60) as c:
            for _ in range(requests):
                if time.monotonic() > stop:
                    return
                t0 = time.perf_counter()
                try:
                    res = c.get("/api/tts", params={"text": text})
                except httpx.HTTPError as e:
                    bad.append(repr(e))
                    continue
                dt = time.perf_counter() - t0
                if res.status_code != 200:
                    bad.append(f"{res.status_code} {res.text[:80]}")
                elif frames is not None and sf.info(io.BytesIO(res.content)).frames != frames:
                    bad.append("a wav of the wrong length")
                else:
                    lat.append(dt)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "ok": len(lat), "failed": len(bad), "errors": bad[:5],
            "rps": round(len(lat) / wall, 3), "p50_s": round(percentile(lat, 0.5), 3) if lat else None,
            "p95_s": round(percentile(lat, 0.95), 3) if lat else None, "wall_s": round(wall, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, nargs="?")
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--requests", type=int, default=4, help="Requests per client.")
    ap.add_argument("--max-seconds", type=float, default=120, help="Time bound of each level.")
    ap.add_argument("--text", default="The birch canoe slid on the smooth planks. Glue the sheet to the dark "
                                      "blue background.")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the server.")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            sys.path.insert(0, str(REPO / "tests"))
            from conftest import make_model_package
            model = make_model_package(Path(tmp) / "tiny.pt", frames_per_token=2)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        server = subprocess.Popen([sys.executable, "-m", "mtts.cli", "serve", "-m", str(model), "--port", str(port),
                                   "--queue", str(max(levels)), "--timeout", str(args.max_seconds + 60)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            t0 = time.monotonic()
            while True:
                try:
                    if httpx.get(url + "/api/health", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() - t0 > 300:
                    sys.exit(f"the server did not start: {server.stderr.read().decode()[-500:]}")
                time.sleep(0.2)
            first = httpx.get(url + "/api/tts", params={"text": args.text}, timeout=300)   # warm-up
            frames = sf.info(io.BytesIO(first.content)).frames
            sr = httpx.get(url + "/api/voices", timeout=30).json()["sample_rate"]
            rows = [level(url, c, args.requests, args.text, args.max_seconds, frames) for c in levels]
            alive = server.poll() is None and httpx.get(url + "/api/health", timeout=30).json()["status"] == "ok"
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    print(f"{'clients':>8}{'ok':>6}{'failed':>8}{'req/s':>9}{'p50 s':>9}{'p95 s':>9}")
    for r in rows:
        print(f"{r['clients']:>8}{r['ok']:>6}{r['failed']:>8}{r['rps']:>9.2f}{r['p50_s'] or 0:>9.3f}"
              f"{r['p95_s'] or 0:>9.3f}")
    rec = {"model": str(args.model or "tiny untrained test model"), "text_chars": len(args.text),
           "audio_s": round(frames / sr, 2), "threads": args.threads, "server_alive_after": alive,
           "levels": rows}
    print(json.dumps(rec))
    if args.json:
        args.json.write_text(json.dumps(rec, indent=2) + "\n")
    if not alive or any(r["failed"] for r in rows):
        sys.exit("requests failed or the server died")


if __name__ == "__main__":
    main()
