"""`invoke up --watch`: push handler edits to the running functions as soon as they are saved."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from devkit.delivery.deploy import push_code
from devkit.delivery.packaging import handler_sources
from devkit.engines import Engine

_POLL_SECONDS = 0.2


def _snapshot() -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in handler_sources()}


def watch_handlers(engine: Engine, stack: str, *, progress: Callable[[str], None] = print) -> None:
    """Poll handlers/ and push each change; runs until interrupted (Ctrl-C)."""
    known = _snapshot()
    progress("Watching handlers/ for changes (Ctrl-C to stop; the engine keeps running).")
    while True:
        time.sleep(_POLL_SECONDS)
        current = _snapshot()
        if current == known:
            continue
        saved_at = max(
            (mtime for path, mtime in current.items() if known.get(path) != mtime), default=time.time_ns()
        )
        known = current
        try:
            updated = push_code(engine, stack)
        except Exception as error:  # a broken save must not end the watch; the next save retries
            progress(f"Push failed: {error}")
            continue
        lag = (time.time_ns() - saved_at) / 1e9
        progress(
            f"Pushed to {', '.join(updated) or 'no function (code unchanged)'} {lag:.2f} s after the save."
        )
