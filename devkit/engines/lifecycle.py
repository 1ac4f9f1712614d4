"""Bring a local engine up for `invoke up`: started (or reused), from empty state or a backup when asked, and its
saved state moved to the port it now runs on."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from devkit.core import ui
from devkit.core.project import ToolingError
from devkit.engines import Engine

if TYPE_CHECKING:
    from devkit.engines.ministack import MiniStack


def start_local(engine: Engine, *, fresh: bool, restore: bool, progress: Callable[[str], None]) -> None:
    """Start `engine` unless it runs, saying what it did with the saved state."""
    from devkit.engines.ministack import MiniStack
    from devkit.engines.ministack.state import describe_backup

    if restore and not isinstance(engine, MiniStack):
        raise ToolingError("--restore applies to MiniStack's local state only.")
    if isinstance(engine, MiniStack):
        engine.check_port_free()  # before anything is printed: a busy port is the one line `up` shows
    if not (fresh or restore) and engine.status().running:
        progress(f"Reusing running {engine.name}.")
    with ui.phase(f"Starting {engine.name}"):
        if isinstance(engine, MiniStack):
            engine.start(fresh=fresh, restore=restore)
        else:
            engine.start(fresh=fresh)
    if not isinstance(engine, MiniStack):
        return
    _end_debugging(engine, progress)
    if engine.restored:
        backup, aside = engine.restored
        progress(
            f"Restored the state backed up {describe_backup(backup)}"
            + (f"; the replaced state is in {aside}." if aside else ".")
        )
    if engine.moved_from:
        progress(
            f"Moved the local stack from port {engine.moved_from} to {engine.port}: the queue URLs, stack outputs "
            "and functions' settings it saved now name the new port (`invoke up` keeps using it)."
        )


def _end_debugging(engine: MiniStack, progress: Callable[[str], None]) -> None:
    """A reused engine may still run functions under a debugger (an `invoke debug` left running elsewhere, or
    one whose end the engine has not seen yet): `up` leaves the stack as deployed."""
    from devkit.engines.debugging import end_all

    for session in end_all(engine):
        progress(f"Ended the debugging of {session.function} (it was on 127.0.0.1:{session.port}).")


def stop_local(engine: Engine, *, purge: bool, force: bool) -> bool:
    """Stop `engine` (`force`: MiniStack is killed if it does not stop in time); returns whether it was running."""
    from devkit.engines.ministack import MiniStack

    was_running = engine.status().running
    if isinstance(engine, MiniStack):
        engine.stop(purge=purge, force=force)
    else:
        engine.stop(purge=purge)
    return was_running


def engine_log_command(engine: Engine, *, follow: bool) -> list[str]:
    """The command that prints the engine's own log (the last 200 lines, then new ones when `follow`)."""
    if engine.name == "localstack":
        return ["docker", "compose", "logs", *(["--follow"] if follow else []), "localstack"]
    log_file = engine.log_file()
    if log_file is None or not log_file.exists():
        raise ToolingError(f"No engine log for {engine.name}; use --function sender|reader|writer.")
    return ["tail", "-n", "200", *(["-f"] if follow else []), str(log_file)]
