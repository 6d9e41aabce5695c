"""Infrastructure fault: kill a running container of the compose project (the healer should restart it)."""

from __future__ import annotations

from typing import Any

from loadgen.faults.base import Fault, FaultError

SERVICE_LABEL = "com.docker.compose.service"
PROJECT_LABEL = "com.docker.compose.project"


class KillContainer(Fault):
    name = "kill_container"
    kind = "infra"
    summary = "SIGKILL the container of a compose service through the Docker Engine API"
    params_help = {
        "service": "compose service name (default inference)",
        "project": "compose project (optional)",
        "signal": "signal to send (default SIGKILL)",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = self.params.get("service", "inference")
        self.project = self.params.get("project")
        self.signal = self.params.get("signal", "SIGKILL")

    def trigger(self) -> str:
        import docker  # only this fault needs the Docker SDK

        client = docker.from_env()
        labels = [f"{SERVICE_LABEL}={self.service}"]
        if self.project:
            labels.append(f"{PROJECT_LABEL}={self.project}")
        containers = client.containers.list(filters={"label": labels})
        if not containers:
            raise FaultError(f"kill_container: no running container with labels {', '.join(labels)}")
        for c in containers:
            c.kill(signal=self.signal)
        return f"sent {self.signal} to {', '.join(c.name for c in containers)}"
