"""LocalSource on a temporary tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trailguard.errors import SourceError
from trailguard.sources import open_sources
from trailguard.sources.base import SourceObject
from trailguard.sources.local import LocalSource


def write(root: Path, rel: str, data: bytes = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def rel_names(objects: list[SourceObject], root: Path) -> list[str]:
    base = root.resolve()
    return [Path(o.name).relative_to(base).as_posix() for o in objects]


def test_lists_a_tree_recursively_in_sorted_order(tmp_path: Path) -> None:
    for rel in [
        "AWSLogs/123/CloudTrail/us-east-1/2024/01/02/b.json.gz",
        "AWSLogs/123/CloudTrail/us-east-1/2024/01/01/z.json.gz",
        "AWSLogs/123/CloudTrail/us-east-1/2024/01/01/a.json.gz",
        "AWSLogs/123/CloudTrail/eu-west-1/2024/01/01/c.json.gz",
        "AWSLogs/045/CloudTrail/us-east-1/2024/01/01/d.json.gz",
    ]:
        write(tmp_path, rel)
    objects = list(LocalSource(tmp_path).objects())
    assert rel_names(objects, tmp_path) == [
        "AWSLogs/045/CloudTrail/us-east-1/2024/01/01/d.json.gz",
        "AWSLogs/123/CloudTrail/eu-west-1/2024/01/01/c.json.gz",
        "AWSLogs/123/CloudTrail/us-east-1/2024/01/01/a.json.gz",
        "AWSLogs/123/CloudTrail/us-east-1/2024/01/01/z.json.gz",
        "AWSLogs/123/CloudTrail/us-east-1/2024/01/02/b.json.gz",
    ]
    # stable: a second listing is identical
    assert [o.name for o in LocalSource(tmp_path).objects()] == [o.name for o in objects]


def test_a_folders_files_are_sorted_by_name(tmp_path: Path) -> None:
    names = ["b.log", "a0.log", "a-b.log", "Z.log", "a.log", "é.log"]
    for name in reversed(names):
        write(tmp_path, name)
    assert rel_names(list(LocalSource(tmp_path).objects()), tmp_path) == sorted(names)


def test_names_are_absolute_resolved_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "logs/a.log")
    monkeypatch.chdir(tmp_path)
    [obj] = LocalSource("logs").objects()
    assert obj.name == str(path.resolve())
    assert Path(obj.name).is_absolute()


def test_skips_hidden_files_and_folders(tmp_path: Path) -> None:
    write(tmp_path, "a.log")
    write(tmp_path, ".hidden.log")
    write(tmp_path, ".git/objects/x")
    write(tmp_path, "sub/.DS_Store")
    write(tmp_path, "sub/.cache/b.log")
    write(tmp_path, "sub/b.log")
    assert rel_names(list(LocalSource(tmp_path).objects()), tmp_path) == ["a.log", "sub/b.log"]


def test_skips_meta_json_sidecars(tmp_path: Path) -> None:
    write(tmp_path, "a.json.gz")
    write(tmp_path, "a.json.gz.meta.json", b"{}")
    write(tmp_path, "b.json", b"{}")  # plain .json is data
    assert rel_names(list(LocalSource(tmp_path).objects()), tmp_path) == ["a.json.gz", "b.json"]


def test_empty_folder_lists_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert list(LocalSource(tmp_path / "empty").objects()) == []


def test_a_single_file(tmp_path: Path) -> None:
    path = write(tmp_path, "logs/a.log", b"hello")
    write(tmp_path, "logs/b.log")
    [obj] = LocalSource(path).objects()
    assert obj.name == str(path.resolve())
    assert obj.size == 5
    with obj.open() as stream:
        assert stream.read() == b"hello"


def test_a_single_hidden_or_sidecar_file_is_still_read_when_named(tmp_path: Path) -> None:
    # Skipping applies to what a folder walk finds, not to a file the user named.
    path = write(tmp_path, ".hidden.log")
    assert [o.name for o in LocalSource(path).objects()] == [str(path.resolve())]


def test_missing_path_is_a_source_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(SourceError, match="nope"):
        list(LocalSource(missing).objects())


def test_opens_bytes_in_pieces(tmp_path: Path) -> None:
    data = bytes(range(256)) * 100
    [obj] = LocalSource(write(tmp_path, "a.bin", data)).objects()
    assert obj.size == len(data)
    with obj.open() as stream:
        assert stream.read(10) == data[:10]
        assert stream.read() == data[10:]
    assert stream.closed


def test_version_changes_when_content_changes(tmp_path: Path) -> None:
    path = write(tmp_path, "a.log", b"one")
    [before] = LocalSource(path).objects()
    [same] = LocalSource(path).objects()
    assert same.version == before.version

    path.write_bytes(b"three")  # a different size
    [longer] = LocalSource(path).objects()
    assert longer.version != before.version

    # The same size: only the mtime tells, so make sure it moves even on
    # filesystems with a coarse clock.
    st = path.stat()
    path.write_bytes(b"fives")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    [same_size] = LocalSource(path).objects()
    assert same_size.size == longer.size
    assert same_size.version != longer.version


def test_open_sources_picks_local_for_paths(tmp_path: Path) -> None:
    write(tmp_path, "a.log")
    [source] = open_sources([str(tmp_path)])
    assert isinstance(source, LocalSource)
    assert len(list(source.objects())) == 1
