"""The launcher's saves, with MiniStack's own persistence module and no server: a save that fails half-way (a full
disk) keeps the previous file whole, and its error is reported instead of only logged."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ministack.core import persistence

from devkit.engines.ministack.launcher import NOT_SAVED_PERIODICALLY, Saver


@pytest.fixture
def saver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Saver:
    monkeypatch.setattr(persistence, "PERSIST_STATE", True)
    monkeypatch.setattr(persistence, "STATE_DIR", str(tmp_path))
    state = {"dynamodb": {"tables": {"t": 1}}, "cloudwatch_logs": {"lines": ["x"]}}
    engine = SimpleNamespace(
        _build_persistence_save_dict=lambda: {name: (lambda name=name: state[name]) for name in state}
    )
    return Saver(engine, persistence)


def _saved(tmp_path: Path, service: str) -> Any:
    return json.loads((tmp_path / f"{service}.json").read_text())["payload"]


def test_a_save_that_fails_half_way_keeps_the_previous_file_and_reports_the_error(
    saver: Saver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a good save
    assert saver.write(*saver.snapshot())["ok"]
    before = (tmp_path / "dynamodb.json").read_bytes()

    # When the disk fills up while the next save is being written
    def half_then_full(document: Any, file: Any, **options: Any) -> None:
        file.write(json.dumps(document, **options)[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(persistence.json, "dump", half_then_full)
    result = saver.write(*saver.snapshot())

    # Then the engine's error is in the result, and the file on disk is the previous one, whole
    assert not result["ok"] and any("No space left" in error for error in result["errors"])
    assert (tmp_path / "dynamodb.json").read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_periodic_saves_leave_the_logs_to_the_full_save(saver: Saver, tmp_path: Path) -> None:
    saver.write(*saver.snapshot(periodic=True))
    assert "cloudwatch_logs" in NOT_SAVED_PERIODICALLY
    assert _saved(tmp_path, "dynamodb") == {"tables": {"t": 1}}
    assert not (tmp_path / "cloudwatch_logs.json").exists()
    saver.write(*saver.snapshot())
    assert _saved(tmp_path, "cloudwatch_logs") == {"lines": ["x"]}
