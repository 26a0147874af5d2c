"""``python -m trailguard`` runs the command line."""

from trailguard.cli import app

app()
