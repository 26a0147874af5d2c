"""``python -m trailguard`` runs the command line."""

from trailguard.cli import app

if __name__ == "__main__":  # reader processes import this module too
    app()
