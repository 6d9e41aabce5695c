"""Inference: scores feature vectors from Kafka and over HTTP with the live model, swapped hot."""
