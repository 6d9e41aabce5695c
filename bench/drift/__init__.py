"""Drift detector evaluation: synthetic streams with known change points."""
