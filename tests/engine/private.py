"""A private MiniStack with the stack deployed and warm, in a folder of its own (named `ministack`, as the
project's `.local/ministack`, so a task run with PURCHASE_LOCAL_DIR=<its parent> finds it); purged afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from devkit.delivery.warm import deploy_and_warm
from devkit.engines.ministack import MiniStack, free_port
from devkit.stack.auth import forget_tokens


@contextlib.contextmanager
def deployed_engine(folder: Path, stage: str = "dev") -> Iterator[MiniStack]:
    private = MiniStack(port=free_port(), state_dir=folder / "ministack")
    private.state_dir.mkdir()
    try:
        private.start()
        deploy_and_warm(private, stage, progress=lambda message: None)
        yield private
    finally:
        private.stop(purge=True)
        forget_tokens()
