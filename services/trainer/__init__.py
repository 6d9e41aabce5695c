"""Trainer: LightGBM job-apply model, validation gate, model registry, retrain and rollback commands."""
