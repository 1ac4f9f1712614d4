"""Local data survives what happens to laptops: the engine killed (SIGKILL, OOM, a crash), a full disk, a damaged
state file, a state that lost part of a stack. Each test runs a private MiniStack on a free loopback port with its
own state folder, and talks to DynamoDB and CloudFormation directly (no stack deploy: faster, same persistence)."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devkit.core.project import ToolingError
from devkit.core.waiting import wait_for
from devkit.engines.ministack import SAVE_INTERVAL, MiniStack, free_port
from devkit.engines.ministack import state as ministack_state

TABLE = "local-data"
# The bound: a killed engine loses at most the writes of its last 5 s.
LOSS_BOUND_SECONDS = 5.0
ONE_TABLE = json.dumps(
    {
        "Resources": {
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": TABLE,
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                },
            }
        }
    }
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[MiniStack]:
    private = MiniStack(port=free_port(), state_dir=tmp_path / "ministack")
    private.state_dir.mkdir()
    try:
        yield private
    finally:
        private.stop(purge=True)


def _create_table(engine: MiniStack) -> None:
    engine.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )


def _put(engine: MiniStack, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with (
        engine.session()
        .resource("dynamodb", endpoint_url=engine.endpoint_url())
        .Table(TABLE)
        .batch_writer() as batch
    ):
        for item_id in ids:
            batch.put_item(Item={"id": item_id})
    return ids


def _stored_ids(engine: MiniStack) -> set[str]:
    paginator = engine.client("dynamodb").get_paginator("scan")
    return {item["id"]["S"] for page in paginator.paginate(TableName=TABLE) for item in page.get("Items", [])}


def _kill(engine: MiniStack) -> None:
    pid = engine.pid()
    assert pid is not None
    process = psutil.Process(pid)
    process.kill()
    process.wait(timeout=10)


def test_a_killed_engine_loses_at_most_its_last_seconds_of_writes(engine: MiniStack) -> None:
    # Given an engine taking writes steadily, each remembered with the time it was acknowledged
    engine.start()
    _create_table(engine)
    dynamodb = engine.client("dynamodb")
    acknowledged: list[tuple[float, str]] = []
    until = time.monotonic() + 3 * SAVE_INTERVAL + 1
    while time.monotonic() < until:
        item_id = str(uuid.uuid4())
        dynamodb.put_item(TableName=TABLE, Item={"id": {"S": item_id}})
        acknowledged.append((time.monotonic(), item_id))

    # When it is killed outright (no chance to save on the way out) and started again
    _kill(engine)
    killed_at = time.monotonic()
    engine.start()

    # Then every write acknowledged more than the bound before the kill is there
    stored = _stored_ids(engine)
    old_enough = [item_id for at, item_id in acknowledged if at < killed_at - LOSS_BOUND_SECONDS]
    assert old_enough, "the test must write for longer than the loss bound"
    assert not set(old_enough) - stored
    lost_ages = [killed_at - at for at, item_id in acknowledged if item_id not in stored]
    print(
        f"\nSIGKILL: {len(lost_ages)} of {len(acknowledged)} acknowledged writes lost, the oldest of them "
        f"{max(lost_ages, default=0):.2f} s before the kill (bound {LOSS_BOUND_SECONDS:g} s)"
    )


def test_a_damaged_state_file_stops_up_with_a_message_and_restore_puts_back_the_last_good_copy(
    engine: MiniStack,
) -> None:
    # Given an engine with data, started twice (the second start backs the state up), then stopped
    engine.start()
    _create_table(engine)
    ids = _put(engine, 30)
    engine.stop()
    engine.start()
    engine.stop()
    assert ministack_state.backups(engine.state_dir)

    # When its DynamoDB file is cut short (a disk error, an editor, a sync tool)
    state_file = engine.state_dir / "state" / "dynamodb.json"
    damaged = state_file.read_bytes()[: state_file.stat().st_size // 2]
    state_file.write_bytes(damaged)

    # Then `up` refuses to start it (MiniStack would start without the table, then save over the file) ...
    with pytest.raises(ToolingError) as refused:
        engine.start()
    assert "dynamodb.json" in str(refused.value) and "invoke up --restore" in str(refused.value)
    assert engine.pid() is None

    # ... and `up --restore` puts back the backup, keeping the damaged state aside
    engine.start(restore=True)
    assert set(ids) <= _stored_ids(engine)
    assert engine.restored is not None and engine.restored[1] is not None
    assert (engine.restored[1] / "dynamodb.json").read_bytes() == damaged


def test_a_state_that_lost_a_stacks_table_is_caught_at_start(engine: MiniStack) -> None:
    # Given a stack with a table, saved
    engine.start()
    cloudformation = engine.client("cloudformation")
    cloudformation.create_stack(StackName="local-data-stack", TemplateBody=ONE_TABLE)
    wait_for(
        lambda: (
            cloudformation.describe_stacks(StackName="local-data-stack")["Stacks"][0]["StackStatus"]
            == "CREATE_COMPLETE"
        ),
        timeout=60,
        what="the stack",
    )
    engine.stop()

    # When the DynamoDB state file is lost while CloudFormation's is kept
    (engine.state_dir / "state" / "dynamodb.json").unlink()

    # Then starting says which resource the stack lacks and what to do, instead of "unchanged" and a traceback
    with pytest.raises(ToolingError) as refused:
        engine.start()
    message = str(refused.value)
    assert "local-data-stack" in message and "Table" in message and "--restore" in message
    assert engine.pid() is None


@contextlib.contextmanager
def _small_disk(folder: Path, size: str) -> Iterator[None]:
    """A tmpfs of `size` mounted on `folder`: a disk that fills up, without filling this machine's."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command here: the full-disk test needs a small tmpfs")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root on Linux): {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def test_down_refuses_to_stop_an_engine_that_could_not_save_and_loses_nothing(engine: MiniStack) -> None:
    # Given an engine whose state lives on a small disk, with data already saved
    state = engine.state_dir / "state"
    with _small_disk(state, "4m"):
        engine.start()
        _create_table(engine)
        saved = _put(engine, 20)
        assert engine.save()["ok"]

        # When the disk fills up and more writes are accepted (they are in the engine's memory only)
        filler = _fill(state)
        unsaved = _put(engine, 20)

        # Then a save reports the engine's own error ...
        result = engine.save()
        assert not result["ok"] and any("No space left" in error for error in result["errors"])
        # ... and `down` says so, exits with an error and leaves the engine running with the data
        with pytest.raises(ToolingError) as refused:
            engine.stop()
        assert "could not save" in str(refused.value) and "--force" in str(refused.value)
        assert engine.pid() is not None

        # When space is freed, then `down` saves and stops, and nothing was lost
        filler.unlink()
        engine.stop()
        assert engine.pid() is None
        engine.start()
        assert set(saved + unsaved) <= _stored_ids(engine)
        engine.stop(purge=True)
