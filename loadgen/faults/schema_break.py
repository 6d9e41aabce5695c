"""Schema break: a producer sends JSON instead of Avro, or values that break the data contract."""

from __future__ import annotations

import json
import random
from typing import Any

from loadgen.faults.base import Fault

# Contract-breaking changes an upstream bug could make; each keeps the Avro schema valid.
BAD_VALUES: tuple[tuple[str, Any], ...] = (
    ("hour_of_day", 27),
    ("skill_match", 1.8),
    ("device", "smart-fridge"),
    ("region", ""),
    ("years_experience", -3.0),
)


class SchemaBreak(Fault):
    """A producer that breaks the data contract: ingest must dead-letter, never crash."""

    name = "schema_break"
    summary = "events arrive as JSON instead of Avro, or with contract-breaking values (dead-lettered)"
    default_duration_s = 20.0
    params_help = {"rate": "share of events broken (default 0.3)", "mode": "mixed (default), bytes or value"}

    def setup(self) -> None:
        self.rate = self.param_float("rate", 0.3)
        self.mode = self.param_choice("mode", ("mixed", "bytes", "value"))
        self._broken = 0
        self._pending_bytes = False

    def report(self, event: dict[str, Any], t_s: float, rng: random.Random) -> None:
        self._pending_bytes = False
        if rng.random() >= self.rate:
            return
        self._broken += 1
        if self.mode == "bytes" or (self.mode == "mixed" and self._broken % 2 == 0):
            self._pending_bytes = True
            return
        field, value = BAD_VALUES[self._broken % len(BAD_VALUES)]
        event[field] = value

    def wire(self, event: dict[str, Any], t_s: float, rng: random.Random) -> bytes | None:
        if not self._pending_bytes:
            return None
        self._pending_bytes = False
        # A producer that "upgraded" to JSON and renamed a field: not Avro, not the schema.
        doc = {k: v for k, v in event.items() if k != "salary_k"}
        doc["salary"] = str(event["salary_k"])
        return json.dumps(doc).encode()
