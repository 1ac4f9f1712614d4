"""Finding a Chromium for the browser tests: Playwright drives the system's Chromium (its own browser download
is not used), so the tests run wherever a `chromium` package is installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Headless in a container as root: no sandbox, no GPU, and nothing that phones home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> Path | None:
    """$CHROMIUM_PATH, else the first Chromium on PATH; None when there is none."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None
