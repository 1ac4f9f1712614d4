"""`invoke up --watch`: push handler edits to the running functions as soon as they are saved.

The operating system reports each change (watchfiles: inotify, FSEvents, ReadDirectoryChangesW); a burst of
changes (an editor's write-and-rename, a `git checkout`) is pushed once, `_QUIET_MS` after the last of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from threading import Event

from watchfiles import DefaultFilter, watch

from devkit.core.project import HANDLERS
from devkit.delivery.deploy import push_code
from devkit.engines import Engine

# Changes closer together than this are one save; an editor's save is done well within it.
_QUIET_MS = 20


def watch_handlers(
    engine: Engine,
    stack: str,
    *,
    progress: Callable[[str], None] = print,
    stop: Event | None = None,
    folder: Path = HANDLERS,
) -> None:
    """Push each change of `folder` (handlers/) until interrupted (Ctrl-C) or `stop` is set."""
    progress("Watching handlers/ for changes (Ctrl-C to stop; the engine keeps running).")
    # DefaultFilter leaves out what the bundle leaves out too: __pycache__, *.pyc, tool caches, editor swap files.
    for changes in watch(folder, watch_filter=DefaultFilter(), step=_QUIET_MS, stop_event=stop):
        saved_at = _last_saved([Path(path) for _, path in changes])
        try:
            updated = push_code(engine, stack)
        except Exception as error:  # a broken save must not end the watch; the next save retries
            progress(f"Push failed: {error}")
            continue
        lag = (time.time_ns() - saved_at) / 1e9
        progress(
            f"Pushed to {', '.join(updated) or 'no function (code unchanged)'} {lag:.2f} s after the save."
        )


def _last_saved(paths: list[Path]) -> int:
    """When the latest of these files was written (a deleted one: now)."""
    times = []
    for path in paths:
        try:
            times.append(path.stat().st_mtime_ns)
        except OSError:
            times.append(time.time_ns())
    return max(times, default=time.time_ns())
