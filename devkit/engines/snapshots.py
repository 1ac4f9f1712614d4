"""`invoke snapshot`: named, dated copies of the local MiniStack's whole state (every service and S3's objects),
loadable into a running or a stopped engine.

A snapshot of a running engine is one consistent save: the engine saves and copies its state folder under its
own save lock (`POST /_devkit/snapshot`). Loading first keeps the current state as an automatic snapshot, so
nothing is lost; a running engine is stopped, given the snapshot's state and started again as `invoke up` starts
it (state checked, backed up, saved stream positions dropped).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from devkit.core.project import ToolingError
from devkit.engines.ministack import MiniStack

NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
AUTOMATIC_PREFIX: Final = "auto-"
_INFO: Final = "snapshot.json"
_PARTS: Final = ("state", "s3")  # the engine's state files, and S3's objects (kept as files by the engine)


@dataclass(frozen=True)
class Snapshot:
    name: str
    folder: Path
    taken: float  # epoch seconds
    size: int  # bytes

    @property
    def automatic(self) -> bool:
        return self.name.startswith(AUTOMATIC_PREFIX)


def snapshots_folder(engine: MiniStack) -> Path:
    return engine.state_dir / "snapshots"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ToolingError(
            f"Invalid snapshot name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit."
        )
    return name


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _read(folder: Path) -> Snapshot | None:
    try:
        info = json.loads((folder / _INFO).read_text())
        return Snapshot(name=str(info["name"]), folder=folder, taken=float(info["taken"]), size=_size(folder))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a copy still being written (or broken): not a snapshot


def list_snapshots(engine: MiniStack) -> list[Snapshot]:
    """Every complete snapshot, oldest first."""
    folder = snapshots_folder(engine)
    found = [_read(path) for path in sorted(folder.iterdir())] if folder.is_dir() else []
    return sorted(
        (snapshot for snapshot in found if snapshot is not None), key=lambda snapshot: snapshot.taken
    )


def find(engine: MiniStack, name: str) -> Snapshot:
    snapshot = _read(snapshots_folder(engine) / check_name(name))
    if snapshot is None:
        known = ", ".join(item.name for item in list_snapshots(engine)) or "none yet"
        raise ToolingError(
            f"No snapshot named {name!r} (snapshots: {known}); `invoke snapshot.list` shows them."
        )
    return snapshot


def save(engine: MiniStack, name: str) -> Snapshot:
    """Copy the engine's whole state (running or stopped) into a new snapshot `name`."""
    target = snapshots_folder(engine) / check_name(name)
    if target.exists():
        raise ToolingError(
            f"A snapshot named {name!r} exists already: pick another name, or remove it first."
        )
    partial = target.with_name(f".{name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        if engine.status().running:
            result = engine.save_into(partial / "state")
            if not result.get("ok"):
                raise ToolingError(
                    f"MiniStack could not save its state for the snapshot: {'; '.join(result.get('errors', []))}."
                )
        elif (engine.state_dir / "state").is_dir():
            shutil.copytree(engine.state_dir / "state", partial / "state")
        else:
            raise ToolingError(
                f"There is no local state in {engine.state_dir} to snapshot yet: run `invoke up`."
            )
        if (engine.state_dir / "s3").is_dir():
            shutil.copytree(engine.state_dir / "s3", partial / "s3")
        taken = time.time()
        (partial / _INFO).write_text(json.dumps({"name": name, "taken": taken}))
        partial.rename(target)  # only a complete copy ever has the snapshot's name
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Snapshot(name=name, folder=target, taken=taken, size=_size(target))


def _put_in_place(engine: MiniStack, snapshot: Snapshot) -> None:
    """Replace the engine's state folders with copies of the snapshot's (the engine is stopped)."""
    for part in _PARTS:
        current = engine.state_dir / part
        incoming = engine.state_dir / f".{part}.loading"
        shutil.rmtree(incoming, ignore_errors=True)
        source = snapshot.folder / part
        if source.is_dir():
            shutil.copytree(source, incoming)
        else:
            incoming.mkdir()
        outgoing = engine.state_dir / f".{part}.replaced"
        shutil.rmtree(outgoing, ignore_errors=True)
        if current.exists():
            current.rename(outgoing)
        incoming.rename(current)
        shutil.rmtree(outgoing, ignore_errors=True)


def automatic_name(when: float) -> str:
    """`auto-` and the time to the millisecond: two loads in one second keep two snapshots."""
    return f"{AUTOMATIC_PREFIX}{time.strftime('%Y%m%d-%H%M%S', time.localtime(when))}.{int(when * 1000) % 1000:03d}"


def load(engine: MiniStack, name: str) -> tuple[Snapshot, Snapshot | None, bool]:
    """Make snapshot `name` the engine's state. Returns (the snapshot loaded, the automatic snapshot of the state
    it replaced (None when there was none), whether the engine is running with it)."""
    snapshot = find(engine, name)
    running = engine.status().running
    kept = None
    if running or (engine.state_dir / "state").is_dir():
        kept = save(engine, automatic_name(time.time()))
    if running:
        engine.stop()
    _put_in_place(engine, snapshot)
    if running:
        engine.start()
    return snapshot, kept, running


def remove(engine: MiniStack, name: str) -> Snapshot:
    snapshot = find(engine, name)
    shutil.rmtree(snapshot.folder)
    return snapshot


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
