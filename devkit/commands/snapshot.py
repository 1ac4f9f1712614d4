"""Named copies of the local engine's whole state: `invoke snapshot.save NAME`, `.load`, `.remove`, `.list`."""

from __future__ import annotations

import time

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


def _snapshot_engine(target: str) -> MiniStack:
    engine = engine_named(target)
    if not isinstance(engine, MiniStack):
        raise ToolingError("Snapshots are of MiniStack's local state: `--target ministack`.")
    return engine
