"""Infrastructure fault: kill a running container of the compose project (the healer should restart it)."""

from __future__ import annotations

import os

from loadgen.faults.base import Fault, FaultError
from services.common.containers import PROJECT_LABEL, SERVICE_LABEL


class KillContainer(Fault):
    """An infrastructure fault: a service dies, the healer must restart it."""

    name = "kill_container"
    kind = "infra"
    summary = "SIGKILL the container of a compose service through the Docker Engine API"
    params_help = {
        "service": "compose service name (default inference)",
        "project": "compose project (default AIG_COMPOSE_PROJECT, else autoinfraguard): never another's",
        "signal": "signal to send (default SIGKILL)",
    }

    def setup(self) -> None:
        self.service = self.param_str("service", "inference")
        # Always one project: a service name alone would match another project's containers too.
        self.project = self.param_str("project") or os.environ.get("AIG_COMPOSE_PROJECT") or "autoinfraguard"
        self.signal = self.param_str("signal", "SIGKILL")

    def trigger(self) -> str:
        import docker  # only this fault needs the Docker SDK

        client = docker.from_env()
        labels = [f"{SERVICE_LABEL}={self.service}", f"{PROJECT_LABEL}={self.project}"]
        containers = client.containers.list(filters={"label": labels})
        if not containers:
            raise FaultError(f"kill_container: no running container with labels {', '.join(labels)}")
        for c in containers:
            c.kill(signal=self.signal)
        return f"sent {self.signal} to {', '.join(c.name for c in containers)}"
