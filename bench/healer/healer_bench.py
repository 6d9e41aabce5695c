"""Healer benchmark: pure decisions/s, and incident copies/s absorbed by dedupe on a real Redis.

    python -m bench.healer.healer_bench [--decisions 50000] [--copies 5000]

The second part needs Redis (AIG_REDIS_URL, default 127.0.0.1:56379); it publishes nothing
(a no-op publisher) and writes no audit rows, so it measures the decision path alone.
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from services.common.connections import redis_client
from services.common.events import header, now_ms
from services.common.incidents import INCIDENT_TYPES
from services.healer.actions.registry import known_actions
from services.healer.alerts import Alerter
from services.healer.audit import Auditor
from services.healer.engine import Healer
from services.healer.handlers import decide, validate_incident
from services.healer.policy import load_policy
from services.healer.safety import SafetyStore
from services.healer.settings import HealerSettings


def incident(type_: str, fingerprint: str, incident_id: str) -> dict[str, Any]:
    now = now_ms()
    return {
        **header("bench"),
        "incident_id": incident_id,
        "fingerprint": fingerprint,
        "type": type_,
        "service": "ingest",
        "summary": "bench",
        "first_seen": now - 100,
        "last_seen": now,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=50_000)
    parser.add_argument("--copies", type=int, default=5_000)
    args = parser.parse_args()
    settings = HealerSettings(redis_prefix=f"aig:healer:bench:{uuid.uuid4().hex[:8]}:", log_to_kafka=False)
    policy = load_policy(settings.policy_path, known_actions())
    allowed = set(settings.allowed_services)
    views = [validate_incident(incident(t, f"fp{i}", f"i{i}")) for i, t in enumerate(sorted(INCIDENT_TYPES))]
    start = time.perf_counter()
    for i in range(args.decisions):
        decide(views[i % len(views)], None, policy, allowed, settings.max_attempts)
    rate = args.decisions / (time.perf_counter() - start)
    print(f"decide(): {rate:>10,.0f} decisions/s (pure, default policy {policy.version})")

    client = redis_client(settings)
    safety = SafetyStore(client, settings.redis_prefix, settings.dedupe_ttl_s)
    sent: list[str] = []
    healer = Healer(
        settings,
        policy,
        safety,
        Auditor(lambda t, v, k: None, None),
        Alerter(settings),
        lambda topic, value, key: sent.append(topic),
        lambda: None,
        synchronous=True,
    )
    copy = incident("data_quality", f"storm-{uuid.uuid4().hex[:6]}", str(uuid.uuid4()))
    start = time.perf_counter()
    kinds = [healer.on_incident({**copy, **header("bench")}).kind for _ in range(args.copies)]
    elapsed = time.perf_counter() - start
    print(
        f"storm: {args.copies} copies of one incident in {elapsed:.2f} s ({args.copies / elapsed:,.0f}/s) -> "
        f"{kinds.count('act')} action, {kinds.count('duplicate')} duplicates, "
        f"commands sent: {sent.count('commands')}"
    )
    s = settings
    hang_worst = s.watch_interval_s + s.watch_failures * s.watch_timeout_s
    print(
        f"detection bound: hang <= {hang_worst:.0f} s ({s.watch_failures} x {s.watch_timeout_s:g} s timeouts + "
        f"{s.watch_interval_s:g} s period); Kubernetes liveness defaults: about 30 s (10 s period x 3 failures)"
    )
    healer.close()
    keys = list(client.scan_iter(f"{settings.redis_prefix}*"))
    if keys:
        client.delete(*keys)


if __name__ == "__main__":
    main()
