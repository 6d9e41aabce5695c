"""Every test here runs the trainer or inference as processes on a PostgreSQL schema of its own."""

from tests.integration.pipeline_model.trainer_itest_support import schema_dsn, start

__all__ = ["schema_dsn", "start"]  # fixtures: the import is their registration
