"""A local stack moved to another port keeps working with all its data: `up --port NEW` on a stack saved on OLD,
then `down` and a plain `up` (which comes back on NEW), and a new POST becomes readable while the purchases written
before the move still read back. Runs `invoke up`'s own steps on a private MiniStack with its own state folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.core.http import call
from devkit.core.project import stack_name
from devkit.delivery.warm import deploy_and_warm
from devkit.engines.lifecycle import start_local
from devkit.engines.ministack import MiniStack, free_port
from devkit.stack.auth import authorization_header
from devkit.stack.stacks import stack_functions
from seed.send import send_samples

STAGE = "dev"


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "ministack"
    folder.mkdir()
    try:
        yield folder
    finally:
        MiniStack.create(state_dir=folder).stop(purge=True)


def _up(state_dir: Path, port: int = 0) -> tuple[MiniStack, dict[str, Any]]:
    """What `invoke up [--port PORT]` does: the engine on PORT or the port it last ran on, deployed and warmed."""
    engine = MiniStack.create(port=port or None, state_dir=state_dir)
    start_local(engine, fresh=False, restore=False, progress=print)
    _, values, _ = deploy_and_warm(engine, STAGE, progress=print)
    return engine, values


def _readable(values: dict[str, Any], headers: dict[str, str], purchase_id: str) -> bool:
    return call("GET", f"{values['ProductPurchaseApi']}{purchase_id}", headers=headers).status == 200


def test_a_stack_moved_to_another_port_keeps_its_data_and_takes_new_writes(state_dir: Path) -> None:
    # Given a deployed local stack on one port, holding purchases
    old_port = free_port()
    engine, values = _up(state_dir, old_port)
    written_before = send_samples(values["ProductPurchaseApi"], headers=authorization_header(engine, values))

    # When it is brought up on another port, stopped, and brought up again without a port
    new_port = free_port()
    moved, _ = _up(state_dir, new_port)
    assert moved.moved_from == old_port
    moved.stop()
    engine, values = _up(state_dir)

    # Then it runs on the new port, every URL it holds names that port, the purchases written before the move
    # read back, and a new POST becomes readable (the writer consumes its queue again)
    assert engine.port == new_port
    assert f"127.0.0.1:{new_port}/" in values["QueueUrl"]
    lambda_client = engine.client("lambda")
    for name in stack_functions(engine, stack_name(STAGE)).values():
        variables = lambda_client.get_function_configuration(FunctionName=name).get("Environment", {})
        assert not [value for value in variables.get("Variables", {}).values() if f":{old_port}" in value]
    headers = authorization_header(engine, values)
    assert all(_readable(values, headers, purchase_id) for purchase_id in written_before)
    written_after = send_samples(values["ProductPurchaseApi"], headers=headers)
    assert all(_readable(values, headers, purchase_id) for purchase_id in written_after)
