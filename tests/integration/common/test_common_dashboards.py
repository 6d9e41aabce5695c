"""Grafana dashboards: in sync with their source, every panel's PromQL valid on a real Prometheus,
every metric it names declared by the code, and the bus panels showing data from a running service."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client import REGISTRY

import services
from kit.records import interaction
from services.common.bus import EventProducer
from services.common.settings import REPO_ROOT, CommonSettings
from tests.integration.common.service_itest_support import start_relay

sys.path.insert(0, str(REPO_ROOT / "infra" / "grafana"))
import dashboards

METRIC = re.compile(r"\b(aig_[a-z0-9_]+)")
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "summary": ["_sum", "_count"]}


def _all_exprs() -> list[str]:
    return [expr for _, panels in dashboards.DASHBOARDS.values() for _, _, exprs in panels for expr in exprs]


def _declared_metric_names() -> set[str]:
    for mod in pkgutil.walk_packages(services.__path__, "services."):
        if mod.name.endswith(".metrics"):
            importlib.import_module(mod.name)
    names: set[str] = set()
    for metric in REGISTRY.collect():  # every registered metric, with or without samples yet
        names.add(metric.name)
        names.update(metric.name + s for s in SUFFIXES.get(metric.type, []))
    return names


def test_dashboard_json_matches_its_source() -> None:
    for name, text in dashboards.render().items():
        on_disk = (REPO_ROOT / "infra" / "grafana" / "dashboards" / name).read_text()
        assert json.loads(on_disk) == json.loads(text), f"{name} is stale: run python infra/grafana/dashboards.py"


def test_every_panel_query_is_valid_promql_naming_declared_metrics(prometheus_url: str) -> None:
    declared = _declared_metric_names()
    for expr in _all_exprs():
        reply = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert reply["status"] == "success", f"{expr}: {reply.get('error')}"
        for name in METRIC.findall(expr):
            assert name in declared, f"{expr} names {name}, which no service declares"


def test_bus_panels_show_a_running_service(
    prometheus_url: str, make_settings: Callable[..., CommonSettings], settings_env: dict[str, str]
) -> None:
    settings = make_settings()
    producer = EventProducer(settings)
    with socket.socket() as sock:  # Prometheus scrapes the default ports only: the relay must get 8001
        assert sock.connect_ex(("127.0.0.1", 8001)) != 0, "port 8001 is taken (a running demo?): stop it first"
    relay = start_relay(
        settings_env, subprocess.DEVNULL, AIG_HTTP_PORT="8001", AIG_SERVICE_NAME="relay-dash", AIG_DELAY_MS="1"
    )
    query = 'sum by (service, topic) (rate(aig_messages_in_total{service="relay-dash"}[1m]))'
    result: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not result:
            for i in range(200):
                producer.produce("interactions.raw", interaction(i), f"k{i}")
            producer.flush()
            time.sleep(2)
            result = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=10).json()["data"][
                "result"
            ]
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(15)
    assert result, "Prometheus never saw the service's consumption rate"
    assert result[0]["metric"]["topic"] == "interactions.raw"
    assert float(result[0]["value"][1]) > 0
