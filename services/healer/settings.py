"""Healer settings (``AIG_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from services.common.settings import CommonSettings

DEFAULT_POLICY = Path(__file__).resolve().parent / "policy.yaml"

PIPELINE_SERVICES = ["ingest", "feature", "trainer", "inference", "drift", "logclassifier", "loadgen"]


class HealerSettings(CommonSettings):
    """Everything that bounds what the healer may do: targets, budgets, timings, alert channels."""

    service_name: str = "healer"
    http_port: int = 8007
    policy_path: Path = DEFAULT_POLICY
    dry_run: bool = Field(default=False, description="decide and audit, but act on nothing")
    compose_project: str = Field(default="autoinfraguard", description="only containers of this project")
    allowed_services: list[str] = Field(default_factory=lambda: list(PIPELINE_SERVICES))
    allowed_containers: list[str] = Field(
        default_factory=list, description="extra container names the healer may restart (empty: by service)"
    )
    redis_prefix: str = Field(default="aig:healer:", description="namespace of every Redis key")
    # safety
    cooldown_s: float = Field(default=120.0, ge=0, description="per (target, action)")
    backoff_base_s: float = Field(default=2.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    max_attempts: int = Field(default=3, ge=1, description="actions per incident before a human is called")
    budget_max_actions: int = Field(default=20, ge=0, description="actions of every kind per budget window")
    budget_window_s: float = Field(default=600.0, gt=0)
    source_max_episodes: int = Field(
        default=30, ge=0, description="episodes one producer of incidents (its `source`) may start per window"
    )
    source_window_s: float = Field(default=60.0, gt=0)
    lock_ttl_s: float = Field(
        default=30.0,
        gt=0,
        description="the lease of a replica on an episode, renewed every third of it while the episode runs: "
        "a dead replica's episodes are taken over (from the journal) once it lapses",
    )
    lock_wait_s: float = Field(
        default=2.0, ge=0, description="wait this long for another replica deciding on the same fingerprint"
    )
    update_interval_s: float = Field(
        default=30.0, gt=0, description="repeats of one report on an open episode reach `actions` this often"
    )
    dedupe_ttl_s: float = Field(
        default=86_400.0,
        gt=0,
        description="how long an incident id is remembered; an escalated episode holds its fingerprint this long "
        "unless a human resolves it first",
    )
    upstream_settle_s: float = Field(
        default=120.0,
        ge=0,
        description="a drift starting within this long of the last report of bad input is taken as its echo "
        "(root cause upstream_data: to a human, not retrained)",
    )
    max_concurrent_episodes: int = Field(default=4, ge=1)
    # closed loop
    verify_timeout_s: float = Field(default=30.0, gt=0, description="default bound of a verification")
    verify_interval_s: float = Field(default=0.5, gt=0)
    quiet_window_s: float = Field(default=60.0, gt=0, description="no fresh incident for this long = fixed")
    learning_seed: int | None = None
    # health watch
    watch_enabled: bool = True
    watch_docker_events: bool = True
    watch_urls: dict[str, str] = Field(
        default_factory=dict, description="service -> base URL polled at /health and /ready"
    )
    watch_interval_s: float = Field(default=1.0, gt=0)
    watch_timeout_s: float = Field(default=2.0, gt=0)
    watch_failures: int = Field(default=2, ge=1, description="consecutive /health failures = incident")
    watch_ready_failures: int = Field(default=30, ge=1, description="consecutive /ready failures = incident")
    watch_reemit_s: float = Field(default=15.0, gt=0, description="re-raise a still-open outage this often")
    watch_discovery_s: float = Field(default=5.0, gt=0, description="container label discovery period")
    health_url_label: str = "io.autoinfraguard.health_url"
    # alerts
    # A webhook URL carries its token (Slack's does): a secret, never logged or put in an event.
    alert_webhook_url: SecretStr | None = None
    smtp_host: str = ""
    smtp_port: int = 25
    alert_email_from: str = "healer@autoinfraguard.local"
    alert_email_to: list[str] = Field(default_factory=list)
    alert_timeout_s: float = Field(default=5.0, gt=0)
