"""Loading detections: the built-in catalogue and a user's rules folder.

The built-in catalogue is checked at load time: ids unique, each id equal to
its module name, metadata valid, and at least one positive (``tp_*``) and one
negative (``fp_*``) example beside it.  A user's folder may hold Sigma rules
(``*.yml``/``*.yaml``) and Python rules (``*.py`` defining ``DETECTION`` or
``DETECTIONS``); every problem is collected with its file, none stops the load.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Final

from trailguard.detect.detection import Detection, EventDetection, WindowDetection
from trailguard.errors import RuleError
from trailguard.formats.schema import LOG_TYPES

CATALOGUE: Final = "trailguard.detections"
EXAMPLE_SUFFIXES: Final = (".json", ".jsonl", ".log")


@dataclass(slots=True)
class LoadedRules:
    detections: list[Detection] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)


def examples_dir(log_type: str, detection_id: str) -> Path:
    base = resources.files(CATALOGUE).joinpath(log_type, "examples", detection_id)
    return Path(str(base))


def example_files(log_type: str, detection_id: str) -> tuple[list[Path], list[Path]]:
    """(positive, negative) example files of a built-in detection."""
    d = examples_dir(log_type, detection_id)
    if not d.is_dir():
        return [], []
    files = sorted(p for p in d.iterdir() if p.suffix in EXAMPLE_SUFFIXES)
    return (
        [p for p in files if p.name.startswith("tp_")],
        [p for p in files if p.name.startswith("fp_")],
    )


def _detections_of(module: object, where: str) -> list[Detection]:
    found: list[object] = []
    if hasattr(module, "DETECTION"):
        found.append(module.DETECTION)
    found.extend(getattr(module, "DETECTIONS", ()))
    if not found:
        raise RuleError(where, "defines neither DETECTION nor DETECTIONS")
    out: list[Detection] = []
    for d in found:
        if not isinstance(d, EventDetection | WindowDetection):
            raise RuleError(where, f"{d!r} is not an EventDetection or WindowDetection")
        d.meta.validate(where)
        out.append(d)
    return out


def builtin_detections() -> list[Detection]:
    """Every detection of the catalogue; a broken catalogue raises :class:`RuleError`."""
    out: list[Detection] = []
    seen: set[str] = set()
    for log_type in LOG_TYPES:
        package = importlib.import_module(f"{CATALOGUE}.{log_type}")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.ispkg or info.name.startswith("_"):
                continue
            where = f"{CATALOGUE}.{log_type}.{info.name}"
            module = importlib.import_module(where)
            for d in _detections_of(module, where):
                if d.meta.id != info.name:
                    raise RuleError(where, f"id {d.meta.id!r} does not match the module name")
                if d.meta.log_type != log_type:
                    raise RuleError(where, f"log type {d.meta.log_type!r} is not {log_type!r}")
                if d.meta.id in seen:
                    raise RuleError(where, f"duplicate id {d.meta.id!r}")
                tp, fp = example_files(log_type, d.meta.id)
                if not tp or not fp:
                    raise RuleError(where, "needs at least one tp_* and one fp_* example")
                seen.add(d.meta.id)
                out.append(d)
    return out


def load_rules_dir(path: str | Path) -> LoadedRules:
    """Load a user's rules folder (recursively); errors are collected, not raised."""
    from trailguard.detect.sigma import load_sigma_file

    root = Path(path)
    result = LoadedRules()
    if not root.exists():
        result.errors.append(RuleError(str(root), "no such file or directory"))
        return result
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for p in files:
        if p.suffix in (".yml", ".yaml"):
            dets, errs = load_sigma_file(p)
            result.detections.extend(dets)
            result.errors.extend(errs)
        elif p.suffix == ".py":
            try:
                result.detections.extend(_load_python_rule(p))
            except RuleError as exc:
                result.errors.append(exc)
            except Exception as exc:  # a user's module may raise anything on import
                result.errors.append(RuleError(str(p), f"{type(exc).__name__}: {exc}"))
    return result


def _load_python_rule(path: Path) -> list[Detection]:
    name = f"trailguard_user_rule_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuleError(str(path), "cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return [
        d if d.meta.source != "builtin" else replace(d, meta=replace(d.meta, source=str(path)))
        for d in _detections_of(module, str(path))
    ]


def check_unique(detections: Iterable[Detection]) -> list[RuleError]:
    seen: dict[str, str] = {}
    errors = []
    for d in detections:
        if d.meta.id in seen:
            errors.append(RuleError(d.meta.source, f"duplicate id {d.meta.id!r}"))
        seen[d.meta.id] = d.meta.source
    return errors
