"""Ingest: checks every interaction against the data contract; valid ones go on, the rest are dead-lettered."""
