"""MiniStack's saved state on disk, without an engine: damaged files found, backups rotated, restore picks the
newest readable backup and never deletes the state it replaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.core.project import ToolingError
from devkit.engines.ministack import state as ministack_state


def _state(folder: Path, **files: str) -> Path:
    state = folder / "state"
    state.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (state / f"{name}.json").write_text(text)
    return state


def _backup(folder: Path, name: str, **files: str) -> Path:
    backup = folder / "backups" / name
    backup.mkdir(parents=True)
    for file_name, text in files.items():
        (backup / f"{file_name}.json").write_text(text)
    return backup


def test_a_truncated_or_non_object_file_is_named_with_its_problem(tmp_path: Path) -> None:
    good = json.dumps({"__ministack_format__": 2, "payload": {}})
    state = _state(tmp_path, dynamodb=good[:10], sqs="[1, 2]", lambda_=good)
    problems = ministack_state.damaged_files(state)
    assert [problem.split(":")[0] for problem in problems] == ["dynamodb.json", "sqs.json"]


def test_a_backup_is_kept_only_once_confirmed_and_the_oldest_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _state(tmp_path, sqs="{}")
    for n in range(ministack_state.BACKUPS_KEPT + 2):
        _backup(tmp_path, f"20260101-0000{n:02d}", sqs="{}")
    # Given a backup taken at start
    pending = ministack_state.take_backup(tmp_path)
    assert pending is not None and pending not in ministack_state.backups(tmp_path)
    # When the engine came up consistent, then it is the newest backup and only BACKUPS_KEPT remain
    ministack_state.confirm_backup(tmp_path, pending)
    kept = ministack_state.backups(tmp_path)
    assert len(kept) == ministack_state.BACKUPS_KEPT
    assert kept[0].name == pending.name.removesuffix(".pending")


def test_restore_takes_the_newest_readable_backup_and_moves_the_current_state_aside(tmp_path: Path) -> None:
    _state(tmp_path, dynamodb='{"broken')
    _backup(tmp_path, "20260101-000001", dynamodb='{"good": 1}')
    _backup(tmp_path, "20260101-000002", dynamodb='{"also broken')
    restored, aside = ministack_state.restore_latest(tmp_path)
    assert restored.name == "20260101-000001"
    assert (tmp_path / "state" / "dynamodb.json").read_text() == '{"good": 1}'
    assert aside is not None and (aside / "dynamodb.json").read_text() == '{"broken'


def test_restore_without_a_readable_backup_says_what_to_do(tmp_path: Path) -> None:
    _state(tmp_path, dynamodb="{")
    with pytest.raises(ToolingError, match="--fresh"):
        ministack_state.restore_latest(tmp_path)
    assert (tmp_path / "state" / "dynamodb.json").read_text() == "{"


def test_moving_the_port_rewrites_the_engines_urls_and_leaves_stored_data_alone(tmp_path: Path) -> None:
    # Given state saved on port 4566: queue URLs as keys and values, a WebSocket endpoint, a function setting, a
    # queued message and a table item that mention the same address, and another local service's URL
    from devkit.engines.ministack.gaps import move_engine_urls

    old = "http://127.0.0.1:4566/000000000000/queue"
    queue_key = f"000000000000\u0000us-east-1\u0000'{old}'"
    message = {"body": f"see {old}"}
    sqs = {"payload": {"queues": {"data": {queue_key: {"url": old, "messages": [message]}}}}}
    functions = {
        "payload": {"env": {"QUEUE_URL": old, "OTHER": "http://localhost:45660/x", "NEAR": "localhost:4566"}}
    }
    apis = {"payload": {"apiEndpoint": "http://abc.execute-api.127.0.0.1:4566"}}
    item = {"payload": {"text": {"S": old}}}
    state = _state(
        tmp_path,
        sqs=json.dumps(sqs),
        **{"lambda": json.dumps(functions)},
        apigateway=json.dumps(apis),
        dynamodb=json.dumps(item),
    )

    # When it moves to port 4641
    changed = move_engine_urls(state, 4566, 4641)

    # Then every engine URL names 4641, and the message, the item and the other service are as they were
    new = "http://127.0.0.1:4641/000000000000/queue"
    assert sorted(changed) == ["apigateway.json", "lambda.json", "sqs.json"]
    queues = json.loads((state / "sqs.json").read_text())["payload"]["queues"]["data"]
    assert queues == {queue_key.replace(old, new): {"url": new, "messages": [message]}}
    assert json.loads((state / "lambda.json").read_text())["payload"]["env"] == {
        "QUEUE_URL": new,
        "OTHER": "http://localhost:45660/x",
        "NEAR": "localhost:4566",
    }
    assert json.loads((state / "apigateway.json").read_text())["payload"]["apiEndpoint"].endswith(
        "127.0.0.1:4641"
    )
    assert json.loads((state / "dynamodb.json").read_text()) == item


def test_the_state_remembers_the_port_it_was_saved_with(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert ministack_state.saved_port(state) is None
    ministack_state.mark_port(state, 4641)
    assert ministack_state.saved_port(state) == 4641


@pytest.mark.parametrize("given", [80, 70000])
def test_a_port_out_of_range_is_refused_with_the_range(given: int) -> None:
    from devkit.core.project import check_port

    with pytest.raises(ToolingError, match="out of range: pass one from 1024 to 65535"):
        check_port(given)
    assert check_port(4641) == 4641
