"""Infrastructure fault: kill a running container of the compose project (the healer should restart it)."""

from __future__ import annotations

from loadgen.faults.base import Fault, FaultError
from services.common.containers import PROJECT_LABEL, SERVICE_LABEL


class KillContainer(Fault):
    """An infrastructure fault: a service dies, the healer must restart it."""

    name = "kill_container"
    kind = "infra"
    summary = "SIGKILL the container of a compose service through the Docker Engine API"
    params_help = {
        "service": "compose service name (default inference)",
        "project": "compose project (optional)",
        "signal": "signal to send (default SIGKILL)",
    }

    def setup(self) -> None:
        self.service = self.param_str("service", "inference")
        self.project = self.param_str("project")
        self.signal = self.param_str("signal", "SIGKILL")

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
