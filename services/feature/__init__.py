"""Feature service: windowed aggregates (faust tables), online store (Redis), offline rows (PostgreSQL)."""
