"""CLI commands of this package, registered on the ``trailguard`` app by ``trailguard.cli``.

Heavy imports stay inside the command functions, so ``trailguard --help`` starts quickly.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to ``app`` (nothing yet)."""
