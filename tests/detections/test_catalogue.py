"""Every built-in detection against its own example events: tp_* must match, fp_* must not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from trailguard.detect.detection import Detection
from trailguard.detect.engine import Engine
from trailguard.detect.hit import Hit
from trailguard.detect.registry import builtin_detections, example_files
from trailguard.enrich.enricher import Enricher
from trailguard.enrich.entries import ListEntries
from trailguard.enrich.listformats import parse_list
from trailguard.formats import ReadOptions, read_object
from trailguard.sources.base import SourceObject

DETECTIONS = builtin_detections()
CASES = [
    pytest.param(d, p, id=f"{d.meta.id}/{p.name}")
    for d in DETECTIONS
    for group in example_files(d.meta.log_type, d.meta.id)
    for p in group
]


def example_enricher(folder: Path) -> Enricher:
    """The lists an example folder holds: ``intel_threat_<category>.txt``, ``intel_trusted.txt``."""
    threat: dict[str, list[tuple[str, ListEntries]]] = {}
    trusted = []
    for f in sorted(folder.glob("intel_*.txt")):
        entries = parse_list(f.read_bytes(), "TXT", source=str(f))
        assert entries.bad_count == 0, entries.bad
        kind = f.stem.split("_")[1:]
        if kind == ["trusted"]:
            trusted.append((f.stem, entries))
        else:
            threat.setdefault(kind[1], []).append((f.stem, entries))
    return Enricher(threat, trusted)


def run_detection(d: Detection, path: Path, batch_rows: int = 65_536) -> list[Hit]:
    data = path.read_bytes()
    obj = SourceObject(str(path), "1", len(data), lambda: io.BytesIO(data))
    reading = read_object(obj, ReadOptions(batch_rows=batch_rows))
    engine = Engine([d])
    enricher = example_enricher(path.parent)
    hits: list[Hit] = []
    for batch in reading.batches():
        assert reading.log_type == d.meta.log_type
        enriched = enricher.enrich(d.meta.log_type, batch).batch
        hits.extend(engine.run(d.meta.log_type, enriched, obj.name))
    hits.extend(engine.take_window_changes()[1])
    assert not reading.rejects, reading.rejects
    assert not engine.errors, engine.errors
    return hits


@pytest.mark.parametrize(("detection", "path"), CASES)
def test_example(detection: Detection, path: Path) -> None:
    hits = run_detection(detection, path)
    if path.name.startswith("tp_"):
        assert hits, f"{path.name} should raise {detection.meta.finding_type}"
        for h in hits:
            assert h.finding_type == detection.meta.finding_type
            assert h.title and "?" not in h.title, h.title
            assert h.account_id == "111122223333"
            assert h.region != "unknown" or detection.meta.log_type == "vpcflow"
    else:
        assert hits == [], f"{path.name} should not raise anything: {hits}"


@pytest.mark.parametrize(("detection", "path"), CASES)
def test_example_batch_size_does_not_matter(detection: Detection, path: Path) -> None:
    big = run_detection(detection, path)
    small = run_detection(detection, path, batch_rows=3)
    assert sorted(h.event_key for h in big) == sorted(h.event_key for h in small)


def test_catalogue_has_the_first_detections() -> None:
    types = {d.meta.finding_type for d in DETECTIONS}
    assert {
        "Policy:IAMUser/RootCredentialUsage",
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        "Recon:EC2/Portscan",
        "UnauthorizedAccess:EC2/MetadataDNSRebind",
    } <= types


def test_every_log_type_has_a_detection() -> None:
    assert {d.meta.log_type for d in DETECTIONS} == {"cloudtrail", "vpcflow", "dns"}
