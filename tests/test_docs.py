"""The README names every setting, command and built-in detection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer.main

from trailguard.cli import app
from trailguard.detect.registry import builtin_detections
from trailguard.settings import SETTINGS

ROOT = Path(__file__).parent.parent
# the README and the pages under docs/ that it links to
README = "\n".join(
    p.read_text(encoding="utf-8")
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
)


def commands(group: Any, prefix: str = "trailguard") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        if hasattr(cmd, "commands"):
            out.extend(commands(cmd, full))
        else:
            out.append(full)
    return out


def test_every_command_is_documented() -> None:
    group = typer.main.get_command(app)
    names = commands(group)
    assert len(names) >= 8
    missing = [n for n in names if f"`{n}" not in README]
    assert not missing, missing


def test_every_setting_is_documented() -> None:
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in README]
    assert not missing, missing


def test_every_detection_is_documented() -> None:
    for d in builtin_detections():
        assert f"`{d.meta.id}`" in README, d.meta.id
        assert f"`{d.meta.finding_type}`" in README, d.meta.finding_type


def test_demo_is_the_first_command() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "trailguard demo" in first_block
