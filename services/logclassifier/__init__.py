"""Log-classifier: turns WARN+ log records into a few explained incidents (masking, Drain3, embeddings)."""
