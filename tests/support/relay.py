"""A minimal consume-process-produce service over the real bus, used by the resilience tests:
it copies ``interactions.raw`` to ``interactions.valid`` (same event_id), optionally slowly."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

from services.common.bus import Event, Out, StreamProcessor
from services.common.service import Service, main
from services.common.settings import CommonSettings


class RelaySettings(CommonSettings):
    service_name: str = "relay"
    delay_ms: float = 0.0


def build(settings: RelaySettings) -> Service:
    def handle(event: Event) -> Iterable[Out]:
        if settings.delay_ms:
            time.sleep(settings.delay_ms / 1000)
        yield Out("interactions.valid", event.value, event.key)

    processor = StreamProcessor(settings, ["interactions.raw"], settings.consumer_group(), handle)
    return Service(main=processor.run, ready_checks={"kafka": lambda: processor.ready})


if __name__ == "__main__":
    sys.exit(main(build, RelaySettings))
