"""The Docker labels that name a container of this project: the compose project and service.

docker compose sets them; the demo's stack sets them on the containers it runs; the healer restarts
only containers that carry its project's label, and loadgen's kill fault finds its target by them.
"""

from __future__ import annotations

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def project_labels(project: str, service: str) -> dict[str, str]:
    """The labels a container of ``service`` in compose project ``project`` carries."""
    return {PROJECT_LABEL: project, SERVICE_LABEL: service}
