"""The tooling's environment is byte-compiled once per lock and interpreter, not on every `uv run`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from devkit.core import environment


@pytest.fixture
def uv_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(command: list[str], **options: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, b"", b"")

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(environment, "STAMP", tmp_path / "stamp")
    return calls


def test_a_fresh_environment_is_compiled_once_then_left_alone(uv_calls: list[list[str]]) -> None:
    # Given an environment never compiled, when the tasks load twice
    environment.compile_once()
    environment.compile_once()
    # Then uv compiled it the first time only
    assert uv_calls == [["uv", "sync", "--frozen", "--inexact", "--compile-bytecode", "--quiet"]]


def test_a_changed_lock_compiles_again(uv_calls: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an environment compiled for the current lock
    environment.compile_once()
    # When the lock changes (new packages installed by `uv run`'s sync), then the next load compiles again
    monkeypatch.setattr(environment, "_installed_key", lambda: "another lock")
    environment.compile_once()
    assert len(uv_calls) == 2
