"""Source of the Grafana dashboards in infra/grafana/dashboards/*.json.

Run ``python infra/grafana/dashboards.py`` after editing; a test checks the JSON files match this
source and runs every panel's PromQL against a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"

# dashboard uid -> (title, [(panel title, unit, [PromQL expressions])])
DASHBOARDS: dict[str, tuple[str, list[tuple[str, str, list[str]]]]] = {
    "aig-bus": (
        "AutoInfraGuard: services and bus",
        [
            ("Services up", "none", ['up{job="autoinfraguard"}']),
            ("Events consumed /s", "ops", ["sum by (service, topic) (rate(aig_messages_in_total[1m]))"]),
            ("Events produced /s", "ops", ["sum by (service, topic) (rate(aig_messages_out_total[1m]))"]),
            ("Dead-lettered /s", "ops", ["sum by (service, topic, reason) (rate(aig_messages_failed_total[5m]))"]),
            ("Consumer lag", "none", ["sum by (service, topic) (aig_consumer_lag)"]),
            (
                "Batch latency p50 / p99",
                "s",
                [
                    "histogram_quantile(0.5, sum by (le, service) (rate(aig_handler_seconds_bucket[5m])))",
                    "histogram_quantile(0.99, sum by (le, service) (rate(aig_handler_seconds_bucket[5m])))",
                ],
            ),
            ("Retries /s (dependency down)", "ops", ["sum by (service, topic) (rate(aig_handler_retries_total[5m]))"]),
            ("Produce errors /s", "ops", ["sum by (service, topic) (rate(aig_produce_errors_total[5m]))"]),
            ("Consumption paused (quarantine)", "none", ["max by (service) (aig_consumer_paused)"]),
            ("Log records dropped /s", "ops", ["sum by (service) (rate(aig_log_records_dropped_total[5m]))"]),
        ],
    ),
}


def panel(i: int, title: str, unit: str, exprs: list[str]) -> dict[str, Any]:
    return {
        "id": i + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + j), "expr": expr, "datasource": {"type": "prometheus", "uid": "prometheus"}}
            for j, expr in enumerate(exprs)
        ],
    }


def dashboard(uid: str, title: str, panels: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["autoinfraguard"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "5s",
        "time": {"from": "now-30m", "to": "now"},
        "panels": [panel(i, *p) for i, p in enumerate(panels)],
    }


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{uid}.json": json.dumps(dashboard(uid, title, panels), indent=2) + "\n"
        for uid, (title, panels) in DASHBOARDS.items()
    }


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
