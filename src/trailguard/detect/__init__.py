"""Detect: the engine that runs detections over normalised batches and yields hits."""
