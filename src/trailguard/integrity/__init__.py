"""CloudTrail log-file integrity: digest chains, hashes and signatures, on S3 or a local copy."""
