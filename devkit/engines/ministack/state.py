"""MiniStack's saved state on disk: checked before the engine loads it, backed up at each start, restored on request.

MiniStack loads a state file it cannot parse as if it were absent and starts without that service's resources,
and its next save overwrites what was left. So a damaged file stops `invoke up` with a message instead, and the
copy taken at each start (kept only once the engine came up consistent with its stacks) can be put back.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from devkit.core.project import ToolingError

BACKUPS_KEPT = 5
_PENDING = ".pending"
# In the state folder, so it travels with each backup: the port the engine ran on when it saved this state (its
# URLs name it). Not a `.json`: MiniStack loads those as services' state.
_PORT_FILE = ".port"


def state_files(state: Path) -> list[Path]:
    return sorted(state.glob("*.json"))


def damaged_files(state: Path) -> list[str]:
    """What is wrong with each state file that MiniStack could not load (empty when all are readable)."""
    problems = []
    for path in state_files(state):
        try:
            document = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as error:
            problems.append(f"{path.name}: {error}")
            continue
        if not isinstance(document, dict):
            problems.append(f"{path.name}: not a JSON object")
    return problems


def saved_port(state: Path) -> int | None:
    """The port the state in this folder was saved with, when it says so."""
    try:
        return int((state / _PORT_FILE).read_text())
    except (OSError, ValueError):
        return None


def mark_port(state: Path, port: int) -> None:
    """Note the port the engine runs on beside the state it will save."""
    state.mkdir(parents=True, exist_ok=True)
    (state / _PORT_FILE).write_text(str(port))


def _backups_folder(state_dir: Path) -> Path:
    return state_dir / "backups"


def backups(state_dir: Path) -> list[Path]:
    """The kept copies that the engine came up with, newest first."""
    folder = _backups_folder(state_dir)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.endswith(_PENDING)), reverse=True)


def take_backup(state_dir: Path) -> Path | None:
    """Copy the state the engine is about to load; it becomes a kept backup once `confirm_backup` says the engine
    came up consistent. None when there is nothing saved yet."""
    state = state_dir / "state"
    if not state_files(state):
        return None
    folder = _backups_folder(state_dir)
    for leftover in folder.glob(f"*{_PENDING}"):
        shutil.rmtree(leftover, ignore_errors=True)
    pending = folder / f"{time.strftime('%Y%m%d-%H%M%S')}{_PENDING}"
    shutil.copytree(state, pending)
    return pending


def confirm_backup(state_dir: Path, pending: Path | None) -> None:
    """Keep the pending copy as the newest backup and drop the oldest beyond BACKUPS_KEPT."""
    if pending is None or not pending.is_dir():
        return
    kept = pending.with_name(pending.name.removesuffix(_PENDING))
    shutil.rmtree(kept, ignore_errors=True)
    pending.rename(kept)
    for old in backups(state_dir)[BACKUPS_KEPT:]:
        shutil.rmtree(old, ignore_errors=True)


def restore_latest(state_dir: Path) -> tuple[Path, Path | None]:
    """Put the newest readable backup in place of the current state, which is moved aside (never deleted).
    Returns (the backup restored, where the previous state went)."""
    state = state_dir / "state"
    for backup in backups(state_dir):
        if not damaged_files(backup):
            break
    else:
        raise ToolingError(
            f"No readable backup of MiniStack's state in {_backups_folder(state_dir)}: "
            "`invoke up --fresh` starts with empty state."
        )
    aside = None
    if state.exists():
        aside = state_dir / f"state-replaced-{time.strftime('%Y%m%d-%H%M%S')}"
        state.rename(aside)
    shutil.copytree(backup, state)
    return backup, aside


def describe_backup(backup: Path) -> str:
    """A backup's folder name is the time the engine was started with it."""
    try:
        when = time.strptime(backup.name, "%Y%m%d-%H%M%S")
    except ValueError:
        return str(backup)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', when)} ({backup})"
