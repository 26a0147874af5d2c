"""Posture: the account configuration that keeps logs and data safe, and certificate bundles."""
