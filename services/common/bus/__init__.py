"""The Kafka bus every service uses: an idempotent Avro producer and a consume-process-produce loop.

Guarantee (DESIGN.md section 4): poll a batch, decode, handle, produce the outputs, wait until
Kafka acknowledged them, then commit the input offsets. A crash at any point replays from the last
commit, so nothing is lost (at-least-once); outputs derive their ``event_id`` from the input so
consumers can dedupe. A poison message (undecodable, breaks the contract, or its handler raises)
goes to ``deadletter`` with the reason and its raw bytes, and the loop goes on.

Services import from here: the modules below are one responsibility each (errors, events, producer,
the consume loop, dead letters, readiness).
"""

from services.common.bus.deadletters import DeadLetterKind, DeadLetters
from services.common.bus.errors import ContractError, DeliveryError, NotReadyError, RetryableError
from services.common.bus.events import BatchHandler, Event, Handler, Out
from services.common.bus.processor import StreamProcessor
from services.common.bus.producer import EventProducer
from services.common.bus.readiness import consumers_readiness

__all__ = [
    "BatchHandler",
    "ContractError",
    "DeadLetterKind",
    "DeadLetters",
    "DeliveryError",
    "Event",
    "EventProducer",
    "Handler",
    "NotReadyError",
    "Out",
    "RetryableError",
    "StreamProcessor",
    "consumers_readiness",
]
