"""The tooling's own environment, byte-compiled once each time uv.lock or the interpreter changes.

This machine, like many CI images, sets PYTHONDONTWRITEBYTECODE, so imports cache nothing and an environment
installed without bytecode imports 3-4x slower every time (measured: MiniStack, boto3, rich and invoke import in
2.5-3 s compiled, 8-13 s not). uv compiles only when told to, and told so in pyproject.toml it recompiles all of
the environment's ~8,100 files on every `uv run`. Here it is told once per change of what is installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

from devkit.core.project import ROOT

LOCK: Final = ROOT / "uv.lock"
STAMP: Final = Path(sys.prefix) / ".devkit-bytecode"


def _installed_key() -> str:
    digest = hashlib.sha256(LOCK.read_bytes() if LOCK.is_file() else b"")
    digest.update(sys.version.encode())
    return digest.hexdigest()


def compile_once() -> None:
    """Byte-compile the project's virtualenv unless it was compiled for this lock and interpreter. Speed only:
    without uv, or outside a virtualenv, nothing happens."""
    if sys.prefix == sys.base_prefix or shutil.which("uv") is None:
        return
    key = _installed_key()
    try:
        if STAMP.read_text() == key:
            return
    except OSError:
        pass
    # The same sync `uv run` just did (nothing to install), plus the compile; --inexact removes nothing.
    compiled = subprocess.run(
        ["uv", "sync", "--frozen", "--inexact", "--compile-bytecode", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if compiled.returncode == 0:
        STAMP.write_text(key)
