"""Settings shared by every service, read from ``AIG_*`` environment variables.

Each service subclasses :class:`CommonSettings` with its own fields and defaults; nothing is
read at import time, so tests build settings objects with explicit overrides.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class CommonSettings(BaseSettings):
    """Connection and runtime settings every service needs."""

    model_config = SettingsConfigDict(env_prefix="AIG_", extra="ignore")

    service_name: str = "aig"
    kafka_bootstrap: str = "127.0.0.1:9092"
    postgres_dsn: str = Field(
        default="postgresql://aig@127.0.0.1:55432/aig",
        description="where PostgreSQL is; the password goes in postgres_password, not here",
    )
    postgres_password: SecretStr | None = Field(default=None, description="AIG_POSTGRES_PASSWORD")
    redis_url: str = Field(
        default="redis://127.0.0.1:56379/0", description="where Redis is; the password goes in redis_password"
    )
    redis_password: SecretStr | None = Field(default=None, description="AIG_REDIS_PASSWORD")
    command_key: SecretStr | None = Field(
        default=None, description="AIG_COMMAND_KEY: signs the guard's commands, and checks them where they arrive"
    )
    operator_key: SecretStr | None = Field(
        default=None, description="AIG_OPERATOR_KEY: a person's key; risky commands (an ungated retrain) need it"
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=0, description="0 disables the HTTP server")
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="a larger HTTP request body is answered 413 unread"
    )
    log_level: str = "INFO"
    log_to_kafka: bool = True
    topic_prefix: str = Field(default="", description="prepended to every topic name (isolates test runs)")
    schemas_dir: Path = REPO_ROOT / "schemas"
    batch_size: int = Field(default=500, ge=1, le=100_000)
    poll_timeout_s: float = Field(
        default=0.02, gt=0, description="longest wait for a batch to fill; bounds the latency each hop adds"
    )
    dependency_timeout_s: float = Field(default=60.0, gt=0, description="how long to wait for Kafka at start")
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    group_id: str = Field(
        default="", description="consumer group of the service's main input; empty: <topic prefix><service name>"
    )

    def secret(self, name: str) -> str | None:
        """The plain value of a secret field (``redis_password``...), for the one call that needs it."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else None

    def topic(self, name: str) -> str:
        """The real Kafka topic name of a logical topic (``features`` -> ``<prefix>features``)."""
        return f"{self.topic_prefix}{name}"

    def consumer_group(self, role: str = "", *, per_replica: bool = False) -> str:
        """The one naming rule for consumer groups: ``<topic prefix><service>[-<role>][-<replica id>]``.

        The topic prefix keeps isolated runs (tests, benchmarks, demos) out of each other's groups.
        ``per_replica``: a group of this process alone, for inputs every replica must read whole
        (commands, model events).
        """
        name = self.group_id or self.topic(self.service_name)
        if role:
            name = f"{name}-{role}"
        return f"{name}-{uuid.uuid4().hex[:10]}" if per_replica else name

    def logical_topic(self, real: str) -> str:
        """Inverse of :meth:`topic`."""
        if self.topic_prefix and real.startswith(self.topic_prefix):
            return real[len(self.topic_prefix) :]
        return real
