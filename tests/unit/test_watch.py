"""`invoke up --watch` pushes a saved handler file, driven by the file system's change events, and stops when
told to."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from devkit.core.waiting import wait_for
from devkit.delivery import watch

# Bounds, not timings: how long the watcher may take to start and to report a change.
DEADLINE = 20.0


def test_a_saved_handler_file_is_pushed_and_the_watch_ends_when_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a watcher on a handlers folder, whose push stops the watch
    stop = threading.Event()
    pushed: list[str] = []

    def push(engine: object, stack: str) -> list[str]:
        pushed.append(stack)
        stop.set()
        return ["reader"]

    monkeypatch.setattr(watch, "push_code", push)
    said: list[str] = []
    watcher = threading.Thread(
        target=watch.watch_handlers,
        args=(None, "stack"),
        kwargs={"progress": said.append, "stop": stop, "folder": tmp_path},
        daemon=True,
    )
    watcher.start()

    # When a handler file is saved (again, until the watcher, which starts in its own time, has seen a save)
    handler = tmp_path / "reader.py"
    saves = iter(range(10_000))

    def saved_until_pushed() -> bool:
        if pushed:
            return True
        handler.write_text(f"VERSION = {next(saves)}\n")
        return False

    wait_for(
        saved_until_pushed,
        timeout=DEADLINE,
        interval=0.2,
        what="the watcher to push a saved file",
    )

    # Then the stack's code is pushed, the push is reported, and the watch ends
    watcher.join(DEADLINE)
    assert not watcher.is_alive()
    assert pushed == ["stack"]
    assert said[0].startswith("Watching handlers/")
    assert said[-1].startswith("Pushed to reader ")
