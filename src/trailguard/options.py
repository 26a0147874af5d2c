"""Command-line options that several commands share, declared once (typer only: cheap to import)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

DbOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option(
        "--db", help="Store file or URL (default: TRAILGUARD_DB, config file, user data dir)."
    ),
]
