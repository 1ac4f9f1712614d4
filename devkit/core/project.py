"""Where things are and what they are called: the few facts every part of the tooling shares."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
TEMPLATE: Final = ROOT / "template.yaml"
HANDLERS: Final = ROOT / "handlers"
SEED: Final = ROOT / "seed"
# Everything an engine keeps on this machine (state, logs, PID files) lives here and is ignored by git;
# PURCHASE_LOCAL_DIR moves it (e.g. to run a second, independent engine from the same checkout).
LOCAL: Final = Path(os.environ.get("PURCHASE_LOCAL_DIR") or ROOT / ".local").resolve()

# Below 1024 a port needs root on most systems; an engine never does.
PORTS: Final = range(1024, 65536)

STAGES: Final = ("dev", "qa", "staging", "prod")
EMULATORS: Final = ("ministack", "localstack")
ENGINES: Final = (*EMULATORS, "aws")

# Emulators accept any credentials; these are the conventional ones and MiniStack treats them as the account root.
EMULATOR_REGION: Final = "us-east-1"
EMULATOR_ACCESS_KEY: Final = "test"


class ToolingError(Exception):
    """A failure the user can act on; the message says what to do."""


def stack_name(stage: str) -> str:
    return f"product-purchase-{stage}"


def check_stage(stage: str) -> str:
    if not stage:
        raise ToolingError(f"No stage given: pass --stage ({', '.join(STAGES)}).")
    if stage not in STAGES:
        raise ToolingError(f"Unknown stage {stage!r}: choose one of {', '.join(STAGES)}.")
    return stage


def check_port(port: int) -> int:
    """A loopback port given on the command line."""
    if port not in PORTS:
        raise ToolingError(f"Port {port} is out of range: pass one from {PORTS.start} to {PORTS.stop - 1}.")
    return port
