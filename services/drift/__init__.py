"""Drift and skew detector: watches features, predictions and labels; raises one incident per real change."""
