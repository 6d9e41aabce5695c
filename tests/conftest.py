"""Shared fixtures. Integration tests run against the real local infrastructure (infra/local/infra.sh),
started here when it is not running yet; each test isolates its Kafka topics with a unique prefix."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kit.kafka import delete_topics_with_prefix
from services.common.settings import REPO_ROOT, CommonSettings
from services.common.topics import ensure_topics

INFRA = REPO_ROOT / "infra" / "local" / "infra.sh"
S = TypeVar("S", bound=CommonSettings)


SECRETS = {
    "redis": "AIG_REDIS_PASSWORD",
    "postgres": "AIG_POSTGRES_PASSWORD",
    "command": "AIG_COMMAND_KEY",
    "operator": "AIG_OPERATOR_KEY",
}


def _local_passwords() -> None:
    """The local secrets in the environment, as `make` exports them (pytest run by hand too).

    Services read them as settings; PGPASSWORD lets the tests' own psycopg connections use the plain DSN.
    """
    for name, var in SECRETS.items():
        if not os.environ.get(var):
            os.environ[var] = subprocess.run(
                [str(INFRA), "secret", name], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
    os.environ.setdefault("PGPASSWORD", os.environ["AIG_POSTGRES_PASSWORD"])


_local_passwords()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts or "e2e" in parts:
            item.add_marker(pytest.mark.infra)


def _infra_up(*components: str) -> None:
    if os.environ.get("AIG_TEST_NO_INFRA_START"):
        return
    result = subprocess.run([str(INFRA), "up", *components], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"local infrastructure did not start ({' '.join(components)}):\n{result.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def infra() -> dict[str, str]:
    """Kafka, PostgreSQL and Redis on 127.0.0.1, with migrations applied."""
    from services.common.connections import postgres_conninfo
    from services.common.db import migrate

    _infra_up("kafka", "postgres", "redis")
    settings = CommonSettings()
    migrate(postgres_conninfo(settings))
    return {
        "kafka_bootstrap": settings.kafka_bootstrap,
        "postgres_dsn": settings.postgres_dsn,
        "redis_url": settings.redis_url,
    }


@pytest.fixture(scope="session")
def docker_engine(infra: dict[str, str]) -> Any:
    """A real Docker engine with the local base and runtime images."""
    import docker

    _infra_up("docker")
    client = docker.from_env()
    client.ping()
    return client


@pytest.fixture(scope="session")
def prometheus_url() -> str:
    """A real Prometheus on 127.0.0.1:9090 scraping the services' default ports."""
    _infra_up("prometheus")
    return "http://127.0.0.1:9090"


@pytest.fixture(scope="session")
def pg_dsn(infra: dict[str, str]) -> str:
    return infra["postgres_dsn"]


@pytest.fixture(scope="session")
def redis_url(infra: dict[str, str]) -> str:
    return infra["redis_url"]


@pytest.fixture
def topic_prefix(infra: dict[str, str]) -> Iterator[str]:
    """A unique topic prefix with every catalogue topic created under it; its topics are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    ensure_topics(CommonSettings(topic_prefix=prefix, kafka_bootstrap=infra["kafka_bootstrap"]))
    yield prefix
    delete_topics_with_prefix(infra["kafka_bootstrap"], prefix)


@pytest.fixture
def make_settings(topic_prefix: str) -> Callable[..., Any]:
    """Build a settings object of any service class, isolated by this test's topic prefix."""

    def build(cls: type[S] = CommonSettings, **overrides: Any) -> S:  # type: ignore[assignment]
        overrides.setdefault("topic_prefix", topic_prefix)
        overrides.setdefault("log_to_kafka", False)
        return cls(**overrides)

    return build


@pytest.fixture
def settings_env(topic_prefix: str) -> dict[str, str]:
    """Environment for a service subprocess isolated by this test's topic prefix."""
    env = dict(os.environ)
    env.update({"AIG_TOPIC_PREFIX": topic_prefix, "PYTHONUNBUFFERED": "1"})
    return env


@pytest.fixture
def group_id() -> Iterator[str]:
    yield f"g-{uuid.uuid4().hex[:8]}"
