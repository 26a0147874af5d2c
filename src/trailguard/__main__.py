"""``python -m trailguard`` runs the command line."""

from trailguard.cli import main

if __name__ == "__main__":  # reader processes import this module too
    main()
