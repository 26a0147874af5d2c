"""Built-in detections over dns logs."""
