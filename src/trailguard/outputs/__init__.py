"""Outputs: exports of findings (and, later, notifications, the API and the dashboard)."""
