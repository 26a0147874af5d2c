"""Built-in detections over vpcflow logs."""
