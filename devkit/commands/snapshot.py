"""Named copies of the local engine's whole state: `invoke snapshot.save NAME`, `.load`, `.remove`, `.list`, and
`.export` / `.import` to take one to another machine."""

from __future__ import annotations

import json
import time
from pathlib import Path

from invoke.context import Context

from devkit.commands import command, engine_named, say
from devkit.core import ui
from devkit.core.project import ToolingError
from devkit.engines import snapshots
from devkit.engines.ministack import MiniStack

NAME_HELP = "the snapshot's name: 1-64 letters, digits, '.', '_', '-'"
TARGET_HELP = "ministack (default; the only engine with local snapshots)"


@command(positional=["name"], help={"name": NAME_HELP})
def save(c: Context, name: str, target: str = "ministack") -> None:
    """Save the local engine's whole state as snapshot NAME."""
    with ui.phase(f"Saving snapshot {name}"):
        saved = snapshots.save(_snapshot_engine(target), name)
    say(
        f"Saved snapshot {saved.name} ({snapshots.human_size(saved.size)}): `invoke snapshot.load {saved.name}`."
    )


@command(positional=["name"], help={"name": NAME_HELP})
def load(c: Context, name: str, target: str = "ministack") -> None:
    """Replace the local engine's state with snapshot NAME (the replaced state is kept as a snapshot)."""
    with ui.phase(f"Loading snapshot {name}"):
        loaded, kept, running = snapshots.load(_snapshot_engine(target), name)
    if kept:
        say(f"The state it replaced is kept as snapshot {kept.name}.")
    say(
        f"Loaded snapshot {loaded.name} into the running engine (`invoke outputs` shows its URLs)."
        if running
        else f"Loaded snapshot {loaded.name}; the engine is stopped: `invoke up` starts it with this state."
    )


@command(positional=["name"], help={"name": NAME_HELP})
def remove(c: Context, name: str, target: str = "ministack") -> None:
    """Delete snapshot NAME."""
    removed = snapshots.remove(_snapshot_engine(target), name)
    say(f"Removed snapshot {removed.name}.")


@command(
    name="list",
    default=True,
)
def list_(c: Context, target: str = "ministack") -> None:
    """List the local engine's snapshots (also what `invoke snapshot` alone does)."""
    engine = _snapshot_engine(target)
    rows = [
        (
            item.name,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.taken)),
            snapshots.human_size(item.size),
            "automatic (before a load)" if item.automatic else "",
        )
        for item in snapshots.list_snapshots(engine)
    ]
    if rows:
        ui.table(("Snapshot", "Taken", "Size", ""), rows)
    say(f"{len(rows)} snapshot(s) in {snapshots.snapshots_folder(engine)}.")


@command(
    positional=["name", "file"],
    help={
        "name": "the snapshot to export (`invoke snapshot.list` shows them)",
        "file": "the file to write: one gzip-compressed tar (e.g. demo.snapshot.tar.gz)",
        "json": "print what was written as JSON (name, file, size in bytes, MiniStack version)",
    },
)
def export(c: Context, name: str, file: str, target: str = "ministack", json_: bool = False) -> None:
    """Write snapshot NAME and the MiniStack version it was made with into one FILE a colleague can import."""
    with ui.phase(f"Exporting snapshot {name}"):
        written = snapshots.export(_snapshot_engine(target), name, Path(file))
    if json_:
        manifest = snapshots.read_manifest(written)
        document = {
            "name": name,
            "file": str(written),
            "size": written.stat().st_size,
            "ministack": manifest["ministack"],
        }
        say(json.dumps(document))
        return
    say(
        f"Exported snapshot {name} to {written} ({snapshots.human_size(written.stat().st_size)}): "
        f"`invoke snapshot.import {written}` on another machine."
    )


@command(
    name="import",
    positional=["file"],
    help={
        "file": "a file written by `invoke snapshot.export`",
        "name": "the name to give it here (default: the name it was exported with)",
        "json": "print the imported snapshot as JSON (name, the MiniStack that made it, this project's)",
    },
)
def import_(c: Context, file: str, name: str = "", target: str = "ministack", json_: bool = False) -> None:
    """Add the snapshot exported in FILE to the local snapshots (`invoke snapshot.load NAME` then loads it)."""
    with ui.phase(f"Importing {file}"):
        imported = snapshots.import_snapshot(_snapshot_engine(target), Path(file), name or None)
    made_with, running_here = imported.other_version or (
        snapshots.engine_version(),
        snapshots.engine_version(),
    )
    if json_:
        say(json.dumps({"name": imported.snapshot.name, "madeWith": made_with, "ministack": running_here}))
        return
    if imported.other_version:
        ui.warn(
            f"Made with MiniStack {made_with}; this project runs {running_here}: if the engine does not work with "
            "it, `invoke snapshot.load` of the automatic snapshot the load keeps puts the previous state back."
        )
    say(
        f"Imported snapshot {imported.snapshot.name}: `invoke snapshot.load {imported.snapshot.name}` loads it."
    )


def _snapshot_engine(target: str) -> MiniStack:
    engine = engine_named(target)
    if not isinstance(engine, MiniStack):
        raise ToolingError("Snapshots are of MiniStack's local state: `--target ministack`.")
    return engine
