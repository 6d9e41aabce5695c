"""POST /predict latency at a fixed request rate, and batch throughput, against a real uvicorn server.

    python -m bench.inference.predict_latency [--rate 500] [--duration 20] [--service | --url URL]

By default it starts its own server in a separate process: the inference HTTP app (one uvicorn
worker on 127.0.0.1, a free port) serving a LightGBM model trained on synthetic rows with the
trainer's default size. ``--service`` runs ``python -m services.inference`` itself instead (Kafka
consumers, registry, all), on real Kafka and PostgreSQL isolated by a topic prefix and a schema of
its own; ``--url`` targets a server already running on 127.0.0.1. While it measures, a separate
idle process sleeping 1 ms at a time records the machine's own scheduling stalls.

The client is open-loop: request ``i`` is due at ``start + i / rate`` whatever happened to earlier
ones, and its latency counts from that due time, so a stalled server shows up in the tail instead
of slowing the client down (no coordinated omission). It speaks plain HTTP/1.1 keep-alive over a
pool of asyncio connections to keep its own overhead small.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from kit.ports import free_port
from kit.procs import cpu_seconds, terminate
from kit.wait import WaitTimeout, http_ok, wait_until

ROW: dict[str, Any] = {
    "numeric": {"skill_match": 0.72, "salary_k": 95.0, "distance_km": 12.0, "dwell_s": None, "remote": 1.0},
    "categorical": {"region": "eu", "seniority": "mid", "industry": "software", "device": "web"},
}


# ---------------------------------------------------------------------------------------- server
def serve(port: int, rows: int, rounds: int) -> None:
    """The inference HTTP app with a synthetic model, as ``python -m services.inference`` serves it."""
    import uvicorn

    from services.common.http import create_app
    from services.common.model.bundle import ModelBundle, fit_spec
    from services.inference.api import add_routes
    from services.inference.holder import LoadedModel, ModelHolder
    from services.inference.settings import InferenceSettings
    from services.trainer.fitting import DEFAULT_PARAMS, train
    from services.trainer.synthetic import make_rows

    data = make_rows(rows, seed=1)
    spec = fit_spec(data)
    booster = train(data, spec, DEFAULT_PARAMS, num_boost_round=rounds)
    holder = ModelHolder()
    holder.swap(LoadedModel("job_apply", 1, ModelBundle(booster, spec), {"rounds": rounds}))
    settings = InferenceSettings(log_to_kafka=False, http_port=port)
    app = create_app(settings, {"model": lambda: holder.loaded})
    add_routes(app, settings, holder, store=None)
    gc.freeze()  # as services.inference.service does
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


def start_server(rows: int, rounds: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.inference.predict_latency",
            "--serve",
            str(port),
            "--train-rows",
            str(rows),
            "--rounds",
            str(rounds),
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )

    def listening() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    try:
        wait_until(listening, 60, "the benchmark server listening", "its output above", proc, every_s=0.2)
    except WaitTimeout as exc:
        proc.kill()
        raise SystemExit(str(exc)) from None
    return proc, f"http://127.0.0.1:{port}"


class RealService:
    """``python -m services.inference`` on real Kafka and PostgreSQL, isolated by a topic prefix and a
    PostgreSQL schema of its own, serving a model the trainer registered there (--service)."""

    def __init__(self, rows: int, rounds: int, workdir: str) -> None:
        import uuid

        import psycopg
        from psycopg.types.json import Jsonb

        from kit.postgres import create_schema
        from services.common.connections import postgres_conninfo
        from services.common.settings import CommonSettings
        from services.common.topics import ensure_topics
        from services.trainer.settings import TrainerSettings
        from services.trainer.synthetic import make_rows
        from services.trainer.training import Trainer

        self.base_dsn = CommonSettings().postgres_dsn
        self.schema = f"bench_{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen[bytes] | None = None
        dsn = create_schema(self.base_dsn, self.schema)
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        ensure_topics(CommonSettings(topic_prefix=prefix))
        data = make_rows(rows, seed=1)
        dsn = postgres_conninfo(CommonSettings(), dsn)
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO feature_rows (interaction_id, member_id, job_id, ts, numeric, categorical)"
                " VALUES (%s, 'm', 'j', %s, %s, %s)",
                [(r.interaction_id, r.ts, Jsonb(dict(r.numeric)), Jsonb(dict(r.categorical))) for r in data],
            )
            cur.executemany(
                "INSERT INTO labels (interaction_id, applied, ts) VALUES (%s, %s, %s)",
                [(r.interaction_id, r.label, r.ts) for r in data],
            )
        settings = TrainerSettings(
            postgres_dsn=dsn,
            artifact_dir=Path(workdir) / "models",
            topic_prefix=prefix,
            num_boost_round=rounds,
            log_to_kafka=False,
        )
        Trainer(settings, lambda: psycopg.connect(dsn, autocommit=True)).retrain(reason="benchmark")
        port = free_port()
        env = {
            **os.environ,
            "AIG_POSTGRES_DSN": dsn,
            "AIG_TOPIC_PREFIX": prefix,
            "AIG_HTTP_PORT": str(port),
            "AIG_LOG_TO_KAFKA": "false",
            "AIG_LOG_LEVEL": "WARNING",
        }
        self.proc = subprocess.Popen([sys.executable, "-m", "services.inference"], env=env)
        self.pid = self.proc.pid
        self.url = f"http://127.0.0.1:{port}"
        self._wait_ready()

    def _wait_ready(self) -> None:
        ready = f"{self.url}/ready"
        try:
            wait_until(lambda: http_ok(ready, 2.0), 90, "services.inference ready", "its output above", self.proc, 0.3)
        except WaitTimeout as exc:
            raise SystemExit(str(exc)) from None

    def close(self) -> None:
        from kit.postgres import drop_schema

        if self.proc is not None:
            terminate(self.proc, 30.0)
        drop_schema(self.base_dsn, self.schema)


# ---------------------------------------------------------------------------------------- client
class Conn:
    """One keep-alive HTTP/1.1 connection; just enough protocol for JSON POSTs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def post(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        return status, body

    def close(self) -> None:
        self.writer.close()


def post_bytes(host: str, port: int, path: str, payload: Any) -> bytes:
    body = json.dumps(payload).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def fixed_rate(url: str, rate: float, duration_s: float, connections: int) -> dict[str, Any]:
    u = urlparse(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    request = post_bytes(host, port, "/predict", ROW)
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Conn.open(host, port))
    # Warm up: code paths, allocator, connections.
    for _ in range(200):
        conn = await pool.get()
        await conn.post(request)
        pool.put_nowait(conn)

    total = int(rate * duration_s)
    latencies = np.zeros(total)
    statuses: dict[int, int] = {}
    errors: list[str] = []

    async def one(i: int, due: float) -> None:
        conn = await pool.get()
        try:
            status, _ = await conn.post(request)
            statuses[status] = statuses.get(status, 0) + 1
        except Exception as exc:
            errors.append(repr(exc))
            conn = await Conn.open(host, port)
        finally:
            pool.put_nowait(conn)
        latencies[i] = clock() - due

    # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
    clock = time.perf_counter
    start = clock() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = clock() - start
    while not pool.empty():
        pool.get_nowait().close()
    ms = latencies * 1000
    if os.environ.get("BENCH_DUMP"):
        np.save(os.environ["BENCH_DUMP"], ms)
    return {
        "requests": total,
        "target_rate": rate,
        "achieved_rate": round(total / elapsed, 1),
        "statuses": statuses,
        "errors": len(errors),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "p999_ms": round(float(np.percentile(ms, 99.9)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


async def batch_throughput(url: str, rows: int, duration_s: float) -> dict[str, Any]:
    u = urlparse(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    request = post_bytes(host, port, "/predict", {"rows": [ROW] * rows})
    conn = await Conn.open(host, port)
    status, body = await conn.post(request)
    if status != 200:
        raise SystemExit(f"batch request failed: {status} {body[:300]!r}")
    times = []
    end = time.perf_counter() + duration_s
    while time.perf_counter() < end:
        t = time.perf_counter()
        status, _ = await conn.post(request)
        times.append(time.perf_counter() - t)
        if status != 200:
            raise SystemExit(f"batch request failed: {status}")
    conn.close()
    total = sum(times)
    return {
        "batch_rows": rows,
        "batches": len(times),
        "rows_per_s": round(rows * len(times) / total),
        "batch_p50_ms": round(float(np.percentile(times, 50)) * 1000, 2),
    }


def probe(duration_s: float) -> None:
    """Sleep 1 ms in a loop and report oversleeps: the machine's own scheduling stalls, as a baseline."""
    end = time.perf_counter() + duration_s
    stalls: list[float] = []
    while time.perf_counter() < end:
        t = time.perf_counter()
        time.sleep(0.001)
        stalls.append((time.perf_counter() - t - 0.001) * 1000)
    a = np.array(stalls)
    print(
        json.dumps(
            {
                "sleeps": len(a),
                "p99_ms": round(float(np.percentile(a, 99)), 3),
                "over_10ms": int((a > 10).sum()),
                "max_ms": round(float(a.max()), 3),
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--url", help="an inference server already running (default: start one)")
    p.add_argument("--rate", type=float, default=500.0, help="single-row requests per second")
    p.add_argument("--duration", type=float, default=20.0, help="seconds at the fixed rate")
    p.add_argument("--connections", type=int, default=32, help="keep-alive connections in the client pool")
    p.add_argument("--batch-rows", type=int, default=1000)
    p.add_argument("--batch-duration", type=float, default=5.0)
    p.add_argument("--train-rows", type=int, default=5000, help="synthetic rows for the served model")
    p.add_argument("--rounds", type=int, default=150, help="boosting rounds of the served model")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--service",
        action="store_true",
        help="benchmark python -m services.inference itself (needs Kafka and PostgreSQL up)",
    )
    p.add_argument("--no-probe", action="store_true", help="skip the idle scheduling-stall probe")
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--probe", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        serve(args.serve, args.train_rows, args.rounds)
        return 0
    if args.probe:
        probe(args.probe)
        return 0
    if urlparse(args.url or "http://127.0.0.1").hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("the benchmark only targets 127.0.0.1")
    server: Any = None
    url = args.url
    tmp = tempfile.TemporaryDirectory(prefix="aig-bench-")
    if url is None and args.service:
        server = RealService(args.train_rows, args.rounds, tmp.name)
        url = server.url
    elif url is None:
        server, url = start_server(args.train_rows, args.rounds)
    try:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        prober = None
        if not args.no_probe:
            prober = subprocess.Popen(
                [sys.executable, "-m", "bench.inference.predict_latency", "--probe", str(args.duration)],
                stdout=subprocess.PIPE,
            )
        gc.collect()
        gc.freeze()  # the client's own collector must not add pauses to what it measures
        load_before = os.getloadavg()[0]
        cpu0 = cpu_seconds(server.pid) if server is not None else None
        single = asyncio.run(fixed_rate(url, args.rate, args.duration, args.connections))
        if server is not None and cpu0 is not None:
            # Includes the 200 warm-up requests.
            single["server_cpu_us_per_request"] = round(
                (cpu_seconds(server.pid) - cpu0) / (single["requests"] + 200) * 1e6, 1
            )
        single["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        if prober is not None:
            out, _ = prober.communicate(timeout=args.duration + 30)
            single["idle_probe"] = json.loads(out)
        batch = asyncio.run(batch_throughput(url, args.batch_rows, args.batch_duration))
    finally:
        if isinstance(server, RealService):
            server.close()
        elif server is not None:
            terminate(server, 10.0)
        tmp.cleanup()
    result = {
        "url": url,
        "single": single,
        "batch": batch,
        "goal_p99_ms": 10.0,
        "goal_met": single["p99_ms"] < 10.0 and single["errors"] == 0 and set(single["statuses"]) == {200},
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"POST /predict single row at {single['target_rate']:.0f} req/s for {args.duration:.0f} s "
        f"({single['requests']} requests, achieved {single['achieved_rate']} req/s, "
        f"statuses {single['statuses']}, errors {single['errors']})"
    )
    print(
        f"  latency ms: p50 {single['p50_ms']}  p90 {single['p90_ms']}  p99 {single['p99_ms']}  "
        f"p99.9 {single['p999_ms']}  max {single['max_ms']}"
    )
    print(f"  machine load average (1 min) before/after: {single['load_avg_1m']} on {os.cpu_count()} cores")
    if "idle_probe" in single:
        pr = single["idle_probe"]
        print(
            f"  idle probe (1 ms sleeps, same period): oversleep p99 {pr['p99_ms']} ms, max {pr['max_ms']} ms, "
            f"{pr['over_10ms']} stalls > 10 ms: the machine's own scheduling noise"
        )
    if "server_cpu_us_per_request" in single:
        per = single["server_cpu_us_per_request"]
        print(f"  server CPU per request: {per} us ({per * single['target_rate'] / 1e4:.1f}% of one core at this rate)")
    print(
        f"POST /predict batches of {batch['batch_rows']} rows: {batch['rows_per_s']} rows/s "
        f"(batch p50 {batch['batch_p50_ms']} ms, {batch['batches']} batches)"
    )
    print(f"goal p99 < 10 ms at {single['target_rate']:.0f} req/s: {'met' if result['goal_met'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
