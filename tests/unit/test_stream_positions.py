"""MiniStack restart gap: the saved stream-mapping positions are dropped before the engine starts again (the
stream itself is not saved, so an old position would skip the first changes after the restart)."""

from __future__ import annotations

import json
from pathlib import Path

from devkit.engines.ministack.gaps import forget_stream_positions


def _saved(folder: Path, positions: dict[str, int]) -> Path:
    path = folder / "lambda.json"
    payload = {
        "esms": {
            "__account_region_scoped__": True,
            "data": {"000000000000\x00us-east-1\x00'm1'": {"UUID": "m1"}},
        },
        "dynamodb_stream_positions": {"__account_region_scoped__": True, "data": positions},
    }
    path.write_text(json.dumps({"__ministack_format__": 2, "payload": payload}))
    return path


def test_given_saved_positions_then_they_are_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    path = _saved(tmp_path, {"000000000000\x00us-east-1\x00'm1'": 57})
    assert forget_stream_positions(tmp_path) is True
    payload = json.loads(path.read_text())["payload"]
    assert payload["dynamodb_stream_positions"]["data"] == {}
    assert payload["esms"]["data"]  # the mappings themselves stay
    assert not list(tmp_path.glob("*.partial"))


def test_given_no_saved_state_or_no_positions_then_nothing_changes(tmp_path: Path) -> None:
    assert forget_stream_positions(tmp_path) is False
    path = _saved(tmp_path, {})
    before = path.read_text()
    assert forget_stream_positions(tmp_path) is False
    assert path.read_text() == before
    path.write_text("not json")
    assert forget_stream_positions(tmp_path) is False
