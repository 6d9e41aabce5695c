"""Provoke real failures on this machine and print the exact lines the libraries emit.

The exemplar set of the log-classifier is built from these lines, so it reflects what real software
says rather than what we imagine it says. Every scenario targets 127.0.0.1 only, uses its own ports
(6391-6399) and temporary files, and stops by itself. Output: one JSON object per line,
{"scenario", "label", "text"}.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kit.ports import free_port

OUT: list[dict[str, str]] = []


def emit(scenario: str, label: str, text: str) -> None:
    for line in text.splitlines():
        line = line.strip()
        if line:
            OUT.append({"scenario": scenario, "label": label, "text": line})


def exc_line(exc: BaseException) -> str:
    mod = type(exc).__module__
    name = type(exc).__name__ if mod in ("builtins", "__main__") else f"{mod}.{type(exc).__name__}"
    return f"{name}: {exc}"


def run(scenario: str, label: str, fn: Callable[[], Any]) -> None:
    """Run ``fn``; record the exception line and whatever it wrote to stderr/warnings/logging."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as native:
        os.dup2(native.fileno(), 2)  # C libraries (LightGBM, librdkafka) write to fd 2 directly
        try:
            _run(scenario, label, fn)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        native.seek(0)
        emit(scenario, label, native.read().decode("utf-8", "replace"))


def _run(scenario: str, label: str, fn: Callable[[], Any]) -> None:
    err = io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            try:
                fn()
            except BaseException as exc:
                emit(scenario, label, exc_line(exc))
            for w in caught:
                emit(scenario, label, f"{w.category.__name__}: {w.message}")
    finally:
        logging.getLogger().removeHandler(handler)
    emit(scenario, label, err.getvalue())


def as_nobody(code: str) -> None:
    """Run python code as uid 65534 (root bypasses file permissions)."""
    in_subprocess(code, nobody=True)


def in_subprocess(code: str, nobody: bool = False) -> None:
    """Run python code in a child (it may abort); its stderr is recorded line by line."""
    # The project's interpreter may live where uid 65534 cannot read it: use the system one then.
    python = "/usr/bin/python3" if nobody else sys.executable
    proc = subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_drop_privileges if nobody else None,
    )
    os.write(2, proc.stderr.encode())


def _drop_privileges() -> None:
    os.setgid(65534)
    os.setuid(65534)


def scenario_redis() -> None:
    import redis

    port = 6391
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            "s3cret",
            "--enable-debug-command",
            "yes",
            "--maxmemory",
            "2mb",
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        good = redis.Redis(host="127.0.0.1", port=port, password="s3cret", socket_timeout=1)
        run("redis-noauth", "permission_denied", lambda: redis.Redis(host="127.0.0.1", port=port).get("x"))
        run(
            "redis-badpass",
            "permission_denied",
            lambda: redis.Redis(host="127.0.0.1", port=port, password="wrong").get("x"),
        )
        run("redis-oom", "out_of_memory", lambda: [good.set(f"k{i}", "x" * 100_000) for i in range(100)])
        run("redis-timeout", "timeout", lambda: good.execute_command("DEBUG", "SLEEP", "2"))
        run("redis-wrongtype", "schema_mismatch", lambda: (good.flushall(), good.set("s", "1"), good.lpush("s", 1)))
        good.close()
        proc.terminate()
        proc.wait(10)
        run("redis-down", "dependency_unavailable", lambda: good.get("x"))
    finally:
        if proc.poll() is None:
            proc.kill()
    closed = free_port()
    run("redis-closed", "dependency_unavailable", lambda: redis.Redis(host="127.0.0.1", port=closed).ping())
    # A listener that accepts and never answers: a read timeout.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 6392))
    srv.listen(5)
    try:
        run("redis-silent", "timeout", lambda: redis.Redis(host="127.0.0.1", port=6392, socket_timeout=0.5).ping())
        import httpx

        run("httpx-silent", "timeout", lambda: httpx.get("http://127.0.0.1:6392/health", timeout=0.5))
        run("socket-silent", "timeout", lambda: _silent_socket(6392))
    finally:
        srv.close()
    import httpx

    run("httpx-closed", "dependency_unavailable", lambda: httpx.get(f"http://127.0.0.1:{closed}/predict"))
    # A peer that resets the connection.
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 6393))
    srv.listen(5)

    def resetter() -> None:
        import struct

        for _ in range(3):
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    t = threading.Thread(target=resetter, daemon=True)
    t.start()
    time.sleep(0.1)
    run("redis-reset", "dependency_unavailable", lambda: redis.Redis(host="127.0.0.1", port=6393).ping())
    run("httpx-reset", "dependency_unavailable", lambda: httpx.get("http://127.0.0.1:6393/"))
    srv.close()


def _silent_socket(port: int) -> None:
    s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
    s.recv(10)


def scenario_postgres() -> None:
    import psycopg

    closed = free_port()
    run(
        "pg-closed",
        "dependency_unavailable",
        lambda: psycopg.connect(f"postgresql://aig:aig@127.0.0.1:{closed}/aig", connect_timeout=2),
    )
    from services.common.connections import postgres_conninfo
    from services.common.settings import CommonSettings

    dsn = postgres_conninfo(CommonSettings())
    run(
        "pg-badpass",
        "permission_denied",
        lambda: psycopg.connect("postgresql://aig:wrong@127.0.0.1:55432/aig", connect_timeout=2),
    )
    run(
        "pg-baduser",
        "permission_denied",
        lambda: psycopg.connect("postgresql://nobody_here:x@127.0.0.1:55432/aig", connect_timeout=2),
    )
    run(
        "pg-nodb",
        "config_error",
        lambda: psycopg.connect(dsn, dbname="aig_missing_db", connect_timeout=2),
    )
    run("pg-baddsn", "config_error", lambda: psycopg.connect("postgresql://aig:aig@127.0.0.1:notaport/aig"))

    def q(sql: str) -> Callable[[], None]:
        def f() -> None:
            with psycopg.connect(dsn, connect_timeout=2) as conn:
                conn.execute(sql)

        return f

    run("pg-timeout", "timeout", q("SET statement_timeout = 100; SELECT pg_sleep(2)"))
    run("pg-nocol", "schema_mismatch", q("SELECT no_such_column FROM pg_class"))
    run("pg-notable", "schema_mismatch", q("SELECT 1 FROM no_such_table_xyz"))
    run("pg-badint", "data_quality", q("SELECT 'abc'::int"))
    run("pg-div0", "data_quality", q("SELECT 1/0"))
    run("pg-range", "data_quality", q("SELECT 99999999999::int"))
    run("pg-nan", "data_quality", q("SELECT 'NaN'::numeric::int"))
    run("pg-perm", "permission_denied", q("SELECT * FROM pg_authid"))
    run("pg-badparam", "config_error", q("SET work_mem = 'lots'"))


def scenario_disk() -> None:
    def write_full() -> None:
        with open("/dev/full", "w") as f:
            f.write("x" * 10)
            f.flush()

    run("devfull", "disk_full", write_full)
    import numpy as np

    def np_full() -> None:
        with open("/dev/full", "wb") as f:
            np.save(f, np.zeros(1000))

    run("numpy-devfull", "disk_full", np_full)
    tmp = tempfile.mkdtemp()
    mnt = Path(tmp) / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        return
    try:

        def fill() -> None:
            with open(mnt / "model.txt", "wb") as f:
                f.write(b"x" * 1_000_000)

        run("tmpfs-full", "disk_full", fill)
        import lightgbm as lgb

        X = np.random.rand(200, 5)
        y = (X[:, 0] > 0.5).astype(int)
        booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 20)
        run("lgb-save-full", "disk_full", lambda: booster.save_model(str(mnt / "m2.txt")))
        run("sqlite-full", "disk_full", lambda: _sqlite_fill(mnt / "db.sqlite"))
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _sqlite_fill(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x BLOB)")
    for _ in range(1000):
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 10_000,))
    conn.commit()


def scenario_ml() -> None:
    import lightgbm as lgb
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.random((300, 4))
    y = (X[:, 0] > 0.5).astype(int)
    clf = LogisticRegression().fit(X, y)
    bad = X[:3].copy()
    bad[0, 1] = np.nan
    run("sk-nan", "data_quality", lambda: clf.predict(bad))
    inf = X[:3].copy()
    inf[0, 2] = np.inf
    run("sk-inf", "data_quality", lambda: clf.predict(inf))
    run("sk-empty", "data_quality", lambda: clf.predict(np.empty((0, 4))))
    run("sk-features", "schema_mismatch", lambda: clf.predict(X[:, :3]))
    run("sk-1d", "schema_mismatch", lambda: clf.predict(X[0]))
    run("sk-str", "data_quality", lambda: clf.predict(np.array([["a", "b", "c", "d"]])))
    run("sk-notfitted", "model_error", lambda: LogisticRegression().predict(X))
    run("sk-scaler-nan", "data_quality", lambda: StandardScaler().fit(np.full((5, 2), np.nan)))
    run("np-div", "data_quality", lambda: np.array([0.0]) / np.array([0.0]))
    run("np-log", "data_quality", lambda: np.log(np.array([-1.0, 0.0])))
    run("np-overflow", "data_quality", lambda: np.exp(np.array([1000.0])))
    run("np-mean-empty", "data_quality", lambda: np.mean(np.array([])))
    run("np-shape", "schema_mismatch", lambda: np.dot(np.ones((3, 4)), np.ones((3, 4))))
    run("np-reshape", "schema_mismatch", lambda: np.ones(10).reshape(3, 4))
    run("float-nan", "data_quality", lambda: int(float("nan")))
    run("float-inf", "data_quality", lambda: int(float("inf")))
    run("float-parse", "data_quality", lambda: float("n/a"))
    run("math-domain", "data_quality", lambda: __import__("math").log(-1))
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 20)
    run("lgb-features", "schema_mismatch", lambda: booster.predict(X[:, :3]))
    run(
        "lgb-empty",
        "data_quality",
        lambda: lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(np.empty((0, 4)), np.empty(0)), 5),
    )
    run(
        "lgb-nan-label",
        "data_quality",
        lambda: lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, np.full(300, np.nan)), 5),
    )
    run(
        "lgb-bad-label",
        "data_quality",
        lambda: lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, np.full(300, 3.0)), 5),
    )
    run(
        "lgb-train-warn",
        "benign",
        lambda: lgb.train({"objective": "binary", "verbose": 1, "num_leaves": 64}, lgb.Dataset(X[:40], y[:40]), 3),
    )
    run(
        "lgb-badparam",
        "config_error",
        lambda: lgb.train({"objective": "no_such_objective", "verbose": -1}, lgb.Dataset(X, y), 5),
    )
    run(
        "lgb-badparam2",
        "config_error",
        lambda: lgb.train({"objective": "binary", "num_leaves": -3, "verbose": -1}, lgb.Dataset(X, y), 5),
    )
    tmp = Path(tempfile.mkdtemp())
    good = tmp / "model.txt"
    booster.save_model(str(good))
    text = good.read_text()
    (tmp / "trunc.txt").write_text(text[: len(text) // 3])
    (tmp / "garbage.txt").write_bytes(os.urandom(2048))
    (tmp / "empty.txt").write_text("")
    (tmp / "badtree.txt").write_text(text.replace("num_leaves=", "num_leaves=abc", 1))
    for name in ("trunc", "garbage", "empty", "badtree"):
        code = f"import lightgbm as l; l.Booster(model_file={str(tmp / f'{name}.txt')!r})"
        run(f"lgb-corrupt-{name}", "model_error", functools.partial(in_subprocess, code))
    run("lgb-missing", "model_error", lambda: lgb.Booster(model_file=str(tmp / "nope" / "model.txt")))
    run(
        "lgb-str-garbage",
        "model_error",
        lambda: in_subprocess("import lightgbm as l; l.Booster(model_str='tree\\nversion=v4\\nnum_class=x')"),
    )
    import pickle

    (tmp / "model.pkl").write_bytes(b"not a pickle at all")
    run("pickle-garbage", "model_error", lambda: pickle.loads((tmp / "model.pkl").read_bytes()))
    run("pickle-trunc", "model_error", lambda: pickle.loads(pickle.dumps(clf)[:100]))
    run("pickle-missing", "model_error", lambda: (tmp / "models" / "v3" / "model.pkl").read_bytes())
    run("joblib-garbage", "model_error", lambda: __import__("joblib").load(tmp / "model.pkl"))


def scenario_permission() -> None:
    tmp = Path(tempfile.mkdtemp())
    os.chmod(tmp, 0o755)
    secret = tmp / "model.txt"
    secret.write_text("x")
    os.chmod(secret, 0o600)
    run("perm-open", "permission_denied", lambda: as_nobody(f"open({str(secret)!r}).read()"))
    run("perm-write", "permission_denied", lambda: as_nobody(f"open({str(tmp / 'out.log')!r}, 'w')"))
    run("perm-mkdir", "permission_denied", lambda: as_nobody("import os; os.makedirs('/var/lib/aig/state')"))
    run(
        "perm-bind",
        "permission_denied",
        lambda: as_nobody("import socket; s=socket.socket(); s.bind(('127.0.0.1', 80))"),
    )
    run(
        "perm-docker",
        "permission_denied",
        lambda: as_nobody("import socket; s=socket.socket(socket.AF_UNIX); s.connect('/var/run/docker.sock')"),
    )
    run("perm-unlink", "permission_denied", lambda: as_nobody(f"import os; os.remove({str(secret)!r})"))


def scenario_config() -> None:
    from pydantic import Field
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="APP_")
        database_url: str
        batch_size: int = 100
        threshold: float = Field(default=0.5, ge=0, le=1)

    os.environ.pop("APP_DATABASE_URL", None)
    run("pyd-missing", "config_error", lambda: Settings())  # type: ignore[call-arg]
    os.environ["APP_DATABASE_URL"] = "postgresql://x"
    os.environ["APP_BATCH_SIZE"] = "lots"
    run("pyd-badint", "config_error", lambda: Settings())  # type: ignore[call-arg]
    os.environ["APP_BATCH_SIZE"] = "10"
    os.environ["APP_THRESHOLD"] = "7"
    run("pyd-range", "config_error", lambda: Settings())  # type: ignore[call-arg]
    for k in ("APP_DATABASE_URL", "APP_BATCH_SIZE", "APP_THRESHOLD"):
        os.environ.pop(k, None)
    run("environ-key", "config_error", lambda: os.environ["AIG_MODEL_DIR"])
    import yaml

    run("yaml-bad", "config_error", lambda: yaml.safe_load("a: [1, 2\nb: c"))
    import configparser

    cp = configparser.ConfigParser()
    run("ini-nosection", "config_error", lambda: cp.get("database", "url"))
    run("int-env", "config_error", lambda: int(os.environ.get("WORKERS", "four")))


def scenario_schema() -> None:
    import fastavro

    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "Prediction",
            "fields": [{"name": "id", "type": "string"}, {"name": "score", "type": "double"}],
        }
    )
    run("avro-garbage", "schema_mismatch", lambda: fastavro.schemaless_reader(io.BytesIO(b"\x07\xff\x00"), schema))
    run("avro-short", "schema_mismatch", lambda: fastavro.schemaless_reader(io.BytesIO(b"\x02a"), schema))
    run("avro-missing", "schema_mismatch", lambda: fastavro.schemaless_writer(io.BytesIO(), schema, {"id": "x"}))
    run(
        "avro-type",
        "schema_mismatch",
        lambda: fastavro.schemaless_writer(io.BytesIO(), schema, {"id": "x", "score": "high"}),
    )
    run("avro-bad-file", "schema_mismatch", lambda: list(fastavro.reader(io.BytesIO(b"garbage"))))
    run("json-bad", "schema_mismatch", lambda: json.loads("{'user': 1"))
    run("json-empty", "schema_mismatch", lambda: json.loads(""))
    run("dict-key", "schema_mismatch", lambda: {"member_id": 1}["job_id"])
    from pydantic import BaseModel

    class Interaction(BaseModel):
        member_id: str
        salary: float

    run("pyd-model-missing", "schema_mismatch", lambda: Interaction.model_validate({"member_id": "m1"}))
    run("pyd-model-type", "schema_mismatch", lambda: Interaction.model_validate({"member_id": "m1", "salary": "lots"}))
    run("pyd-json", "schema_mismatch", lambda: Interaction.model_validate_json("{not json"))
    run("utf8", "schema_mismatch", lambda: b"\xff\xfe\xfa".decode("utf-8"))
    run("struct", "schema_mismatch", lambda: __import__("struct").unpack(">q", b"\x00\x01"))


def scenario_kafka() -> None:
    from confluent_kafka import Consumer, KafkaException, Producer
    from confluent_kafka.admin import AdminClient

    closed = free_port()
    logger = logging.getLogger("kafka")
    conf: dict[str, Any] = {"bootstrap.servers": f"127.0.0.1:{closed}", "logger": logger}
    p = Producer({**conf, "message.timeout.ms": 1500})

    def produce() -> None:
        errors: list[str] = []
        p.produce("features", b"x", on_delivery=lambda err, msg: errors.append(str(err)) if err else None)
        p.flush(4)
        if errors:
            raise KafkaException(errors[0])

    run("kafka-closed-produce", "dependency_unavailable", produce)
    admin = AdminClient(conf)
    run("kafka-closed-meta", "dependency_unavailable", lambda: admin.list_topics(timeout=1.5))
    c = Consumer({**conf, "group.id": "g"})
    run("kafka-closed-consume", "dependency_unavailable", lambda: _consume_err(c))
    c.close()


def _consume_err(c: Any) -> None:
    from confluent_kafka import KafkaException

    c.subscribe(["features"])
    deadline = time.time() + 2
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error():
            raise KafkaException(m.error())


def scenario_memory() -> None:
    import numpy as np

    run("np-alloc", "out_of_memory", lambda: np.empty((10**12,), dtype=np.float64))
    run("np-zeros", "out_of_memory", lambda: np.zeros((500_000, 500_000)))
    run(
        "py-alloc",
        "out_of_memory",
        lambda: as_nobody(
            "import resource; resource.setrlimit(resource.RLIMIT_AS, (300*2**20, 300*2**20)); x = bytearray(400*2**20)"
        ),
    )
    run(
        "py-list",
        "out_of_memory",
        lambda: as_nobody(
            "import resource; resource.setrlimit(resource.RLIMIT_AS, (300*2**20, 300*2**20)); x = [0] * (100*2**20)"
        ),
    )


def scenario_timeout() -> None:
    import asyncio

    async def slow() -> None:
        await asyncio.wait_for(asyncio.sleep(2), 0.1)

    run("asyncio-timeout", "timeout", lambda: asyncio.run(slow()))
    run("subprocess-timeout", "timeout", lambda: subprocess.run(["sleep", "3"], timeout=0.2))
    import concurrent.futures as cf

    with cf.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(time.sleep, 1)
        run("future-timeout", "timeout", lambda: fut.result(timeout=0.1))
    run("lock-timeout", "timeout", lambda: _lock_timeout())


def _lock_timeout() -> None:
    lock = threading.Lock()
    lock.acquire()
    if not lock.acquire(timeout=0.1):
        raise TimeoutError("could not acquire the model lock within 0.1 s")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=io.StringIO())
    names = sys.argv[1:] or [
        "redis",
        "postgres",
        "disk",
        "ml",
        "permission",
        "config",
        "schema",
        "kafka",
        "memory",
        "timeout",
    ]
    for name in names:
        try:
            globals()[f"scenario_{name}"]()
        except Exception as exc:
            print(f"scenario {name} failed: {exc_line(exc)}", file=sys.stderr)
    for row in OUT:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
