"""Built-in detections over cloudtrail logs."""
