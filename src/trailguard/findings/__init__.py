"""Findings: the GuardDuty-shaped model, deterministic ids, aggregation and the store."""
