"""What a handler raises to tell the bus how to treat an event, and what the producer raises when Kafka fails it."""

from __future__ import annotations


class ContractError(ValueError):
    """Raised by a handler when an event breaks the data contract; the event is dead-lettered."""


class RetryableError(Exception):
    """Raised by a handler when a dependency is down; the event is retried with backoff, not dropped."""


class NotReadyError(RetryableError):
    """Raised by a handler that cannot work yet by design (e.g. no model trained so far): retried like a
    RetryableError, but logged at INFO, since nothing is broken."""


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge produced events."""
