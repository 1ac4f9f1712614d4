"""Snapshots travel (`invoke snapshot.export` / `snapshot.import`): one compressed file with a manifest naming the
MiniStack that made it, imported by a colleague's project as the same snapshot; another version is said, a file
that is not an export (or reaches outside the snapshot) is refused, and a refused import leaves nothing behind."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from devkit.core.project import ToolingError
from devkit.engines import snapshots
from devkit.engines.ministack import MiniStack, free_port


def stopped_engine(folder: Path) -> MiniStack:
    return MiniStack(port=free_port(), state_dir=folder)


@pytest.fixture
def mine(tmp_path: Path) -> MiniStack:
    """A stopped engine with some state and an S3 object, saved as snapshot `demo`."""
    engine = stopped_engine(tmp_path / "mine")
    (engine.state_dir / "state").mkdir(parents=True)
    (engine.state_dir / "state" / "dynamodb.json").write_text('{"tables": {"purchases": [1, 2, 3]}}')
    (engine.state_dir / "s3" / "bucket").mkdir(parents=True)
    (engine.state_dir / "s3" / "bucket" / "object").write_bytes(b"code")
    snapshots.save(engine, "demo")
    return engine


def test_an_exported_snapshot_is_imported_by_another_project_unchanged(
    mine: MiniStack, tmp_path: Path
) -> None:
    # Given a snapshot exported to one file
    file = snapshots.export(mine, "demo", tmp_path / "demo.tar.gz")
    # When a colleague's project imports it
    theirs = stopped_engine(tmp_path / "theirs")
    imported = snapshots.import_snapshot(theirs, file)
    # Then it is the same snapshot, by the same MiniStack, under the same name
    assert imported.other_version is None
    assert imported.snapshot.name == "demo" and imported.snapshot.engine_version == snapshots.engine_version()
    original = snapshots.find(mine, "demo").folder
    for path in original.rglob("*"):
        if path.is_file() and path.name != "snapshot.json":
            assert (imported.snapshot.folder / path.relative_to(original)).read_bytes() == path.read_bytes()
    # And a second import needs another name, which it then carries
    with pytest.raises(ToolingError, match="exists already"):
        snapshots.import_snapshot(theirs, file)
    assert snapshots.import_snapshot(theirs, file, "copy").snapshot.name == "copy"


def test_a_file_made_with_another_ministack_is_imported_and_says_so(
    mine: MiniStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = snapshots.export(mine, "demo", tmp_path / "demo.tar.gz")
    made_with = snapshots.engine_version()
    # Given a project running another MiniStack
    monkeypatch.setattr(snapshots, "engine_version", lambda: "0.0.1")
    # When it imports the file, Then the snapshot is there and the two versions are named
    imported = snapshots.import_snapshot(stopped_engine(tmp_path / "theirs"), file)
    assert imported.other_version == (made_with, "0.0.1")
    assert imported.snapshot.name == "demo"


def test_export_refuses_to_overwrite_a_file(mine: MiniStack, tmp_path: Path) -> None:
    existing = tmp_path / "taken.tar.gz"
    existing.write_text("keep me")
    with pytest.raises(ToolingError, match="exists already"):
        snapshots.export(mine, "demo", existing)
    assert existing.read_text() == "keep me"


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


MANIFEST = json.dumps({"format": 1, "name": "evil", "taken": 1.0, "ministack": "1.0"}).encode()


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ({"readme.txt": b"hello"}, "not an exported snapshot"),
        ({"manifest.json": b'{"format": 99, "name": "x"}'}, "manifest this project does not read"),
        ({"manifest.json": MANIFEST, "snapshot/../../outside": b"x"}, "outside a snapshot"),
        ({"manifest.json": MANIFEST, "elsewhere/file": b"x"}, "outside a snapshot"),
        ({"manifest.json": MANIFEST, "snapshot/state/a.json": b"{}"}, "not a complete exported snapshot"),
    ],
)
def test_a_file_that_is_not_a_sound_export_is_refused_leaving_nothing(
    tmp_path: Path, members: dict[str, bytes], problem: str
) -> None:
    engine = stopped_engine(tmp_path / "theirs")
    with pytest.raises(ToolingError, match=problem):
        snapshots.import_snapshot(engine, _archive(tmp_path / "file.tar.gz", members))
    assert not (tmp_path / "outside").exists()
    assert snapshots.list_snapshots(engine) == []
    leftovers = (
        list(snapshots.snapshots_folder(engine).iterdir())
        if snapshots.snapshots_folder(engine).exists()
        else []
    )
    assert leftovers == []
