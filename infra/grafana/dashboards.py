"""Source of the Grafana dashboards in infra/grafana/dashboards/*.json.

Run ``python infra/grafana/dashboards.py`` after editing; a test checks the JSON files match this
source and runs every panel's PromQL against a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"


def p50_p99(by: str, histogram: str, window: str) -> list[str]:
    """The median and the 99th percentile of a histogram's ``_bucket`` series, summed by ``by`` (which holds le)."""
    return [f"histogram_quantile({q}, sum by ({by}) (rate({histogram}[{window}])))" for q in ("0.5", "0.99")]


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
            ("Batch latency p50 / p99", "s", p50_p99("le, service", "aig_handler_seconds_bucket", "5m")),
            ("Retries /s (dependency down)", "ops", ["sum by (service, topic) (rate(aig_handler_retries_total[5m]))"]),
            ("Produce errors /s", "ops", ["sum by (service, topic) (rate(aig_produce_errors_total[5m]))"]),
            ("Consumption paused (quarantine)", "none", ["max by (service) (aig_consumer_paused)"]),
            ("Log records dropped /s", "ops", ["sum by (service) (rate(aig_log_records_dropped_total[5m]))"]),
        ],
    ),
    "aig-pipeline": (
        "AutoInfraGuard: the monitored ML pipeline",
        [
            ("Ingest: accepted events /s", "ops", ["sum by (path) (rate(aig_ingest_accepted_total[1m]))"]),
            ("Ingest: rejected events /s", "ops", ["sum by (path) (rate(aig_ingest_rejected_events_total[5m]))"]),
            (
                "Ingest: contract violations /s by field and reason",
                "ops",
                ["sum by (field, reason) (rate(aig_ingest_rejected_total[5m]))"],
            ),
            (
                "Data quality: nulls and out-of-range /s by field",
                "ops",
                [
                    'label_replace(sum by (field) (rate(aig_ingest_null_total[5m])), "kind", "null", "", "")',
                    'label_replace(sum by (field) (rate(aig_ingest_out_of_range_total[5m])), "kind", "out_of_range",'
                    ' "", "")',
                ],
            ),
            ("Feature vectors /s", "ops", ["sum(rate(aig_feature_vectors_total[1m]))"]),
            (
                "Online store writes /s by outcome",
                "ops",
                ["sum by (outcome) (rate(aig_feature_online_writes_total[1m]))"],
            ),
            ("Offline store rows /s by table", "ops", ["sum by (table) (rate(aig_feature_offline_rows_total[5m]))"]),
            ("Feature dead letters /s by stage", "ops", ["sum by (stage) (rate(aig_feature_dead_letters_total[5m]))"]),
            (
                "Trainer: model versions by outcome (1h): live, rejected by the gate, rolled back",
                "none",
                ["sum by (status) (increase(aig_trainer_models_total[1h]))"],
            ),
            ("Trainer: training time p50 / p99", "s", p50_p99("le", "aig_trainer_training_seconds_bucket", "1h")),
            ("Inference: predictions /s by path", "ops", ["sum by (path) (rate(aig_inference_predictions_total[1m]))"]),
            (
                "Inference: /predict latency p50 / p99",
                "s",
                p50_p99("le", 'aig_inference_predict_seconds_bucket{path="http"}', "5m"),
            ),
            (
                "Inference: scoring latency p99 by path",
                "s",
                ["histogram_quantile(0.99, sum by (le, path) (rate(aig_inference_predict_seconds_bucket[5m])))"],
            ),
            ("Inference: live model version", "none", ["max by (model_name) (aig_inference_model_version)"]),
            (
                "Inference: model swaps and load failures (1h)",
                "none",
                [
                    "sum by (model_name) (increase(aig_inference_model_swaps_total[1h]))",
                    "sum by (model_name) (increase(aig_inference_model_load_failures_total[1h]))",
                ],
            ),
            (
                "Inference: rejected /predict requests /s by status",
                "ops",
                ["sum by (status) (rate(aig_inference_request_errors_total[5m]))"],
            ),
        ],
    ),
    "aig-guard": (
        "AutoInfraGuard: the guard",
        [
            (
                "Drift: incidents raised (1h) by type",
                "none",
                ["sum by (type) (increase(aig_drift_incidents_total[1h]))"],
            ),
            (
                "Drift: changes suppressed by cooldown (1h) by type",
                "none",
                ["sum by (type) (increase(aig_drift_suppressed_total[1h]))"],
            ),
            (
                "Drift: bad feature values /s by feature and reason",
                "ops",
                ["sum by (feature, reason) (rate(aig_drift_bad_values_total[5m]))"],
            ),
            ("Drift: unusable inputs /s by reason", "ops", ["sum by (reason) (rate(aig_drift_bad_input_total[5m]))"]),
            (
                "Drift: detector state (joins /s, resets and checkpoints 1h)",
                "none",
                [
                    "sum(rate(aig_drift_joined_total[1m]))",
                    "sum(increase(aig_drift_resets_total[1h]))",
                    "sum by (result) (increase(aig_drift_checkpoints_total[1h]))",
                ],
            ),
            (
                "Log classifier: records /s by root cause",
                "ops",
                ["sum by (root_cause) (rate(aig_logclassifier_records_total[1m]))"],
            ),
            (
                "Log classifier: incidents (1h) by root cause",
                "none",
                ["sum by (root_cause) (increase(aig_logclassifier_incidents_total[1h]))"],
            ),
            (
                "Log classifier: embedding cache hit ratio",
                "percentunit",
                [
                    'sum(rate(aig_logclassifier_embedding_cache_total{result="hit"}[5m]))'
                    " / sum(rate(aig_logclassifier_embedding_cache_total[5m]))",
                ],
            ),
            ("Log classifier: Drain3 templates", "none", ["max(aig_logclassifier_templates)"]),
            (
                "Log classifier: bad records /s by reason",
                "ops",
                ["sum by (reason) (rate(aig_logclassifier_bad_input_total[5m]))"],
            ),
            (
                "Healer: incidents received (1h) by outcome",
                "none",
                ["sum by (decision) (increase(aig_healer_incidents_total[1h]))"],
            ),
            (
                "Healer: actions (1h) by action and status",
                "none",
                ["sum by (action, status) (increase(aig_healer_decisions_total[1h]))"],
            ),
            (
                "Healer: time to detect p50 / p99 by type",
                "s",
                p50_p99("le, type", "aig_healer_time_to_detect_seconds_bucket", "1h"),
            ),
            (
                "Healer: time to recover p50 / p99 by type",
                "s",
                p50_p99("le, type", "aig_healer_time_to_recover_seconds_bucket", "1h"),
            ),
            (
                "Healer: refusals (1h) by action",
                "none",
                ['sum by (action) (increase(aig_healer_decisions_total{status="refused"}[1h]))'],
            ),
            (
                "Healer: alerts to a human and escalations (1h)",
                "none",
                [
                    'sum by (status) (increase(aig_healer_decisions_total{action="alert"}[1h]))',
                    'sum(increase(aig_healer_decisions_total{status="escalated"}[1h]))',
                ],
            ),
            (
                "Healer: audit records left to the sink (database away) and refused /s",
                "ops",
                [
                    "sum by (op) (rate(aig_healer_audit_deferred_total[5m]))",
                    "sum by (op) (rate(aig_healer_audit_failures_total[5m]))",
                ],
            ),
            (
                "Control events and commands refused as unauthenticated /s",
                "ops",
                [
                    "sum by (service, topic, reason) (rate(aig_events_refused_total[5m]))",
                    "sum by (service, reason) (rate(aig_commands_refused_total[5m]))",
                ],
            ),
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
