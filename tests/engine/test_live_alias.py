"""A stack parameter that changes a function's configuration reaches the `live` alias every caller uses, not only
`$LATEST`: the writer's fault rate, redeployed, is what the alias runs, and the connections function's alias gets
the new connection limit. Runs `invoke up`'s deploy on a private MiniStack with its own state folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.core.project import stack_name
from devkit.delivery.deploy import deploy_to_emulator
from devkit.engines.lifecycle import start_local
from devkit.engines.ministack import MiniStack, free_port
from devkit.stack.events import sqs_write_event
from devkit.stack.invoking import ALIAS, invoke
from devkit.stack.outputs import raw_outputs
from devkit.stack.signed_writes import SenderRole
from devkit.stack.stacks import stack_functions

STAGE = "dev"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[MiniStack]:
    folder = tmp_path / "ministack"
    folder.mkdir()
    engine = MiniStack.create(port=free_port(), state_dir=folder)
    try:
        start_local(engine, fresh=False, restore=False, progress=print)
        yield engine
    finally:
        MiniStack.create(state_dir=folder).stop(purge=True)


def _failed_records(engine: MiniStack, writer: str) -> list[Any]:
    """The records the writer's `live` alias reports failed for one write message, signed as the sender signs it
    (the writer refuses an unsigned one whatever its fault rate)."""
    sign = SenderRole(engine, raw_outputs(engine, STAGE)).attributes
    invocation = invoke(engine, writer, sqs_write_event(sign))
    assert invocation.function_error is None, invocation.payload
    failures: list[Any] = invocation.payload["batchItemFailures"]
    return failures


def _alias_environment(engine: MiniStack, function: str) -> dict[str, str]:
    configuration = engine.client("lambda").get_function_configuration(FunctionName=function, Qualifier=ALIAS)
    variables: dict[str, str] = configuration["Environment"]["Variables"]
    return variables


def test_a_changed_parameter_is_what_the_live_alias_runs(engine: MiniStack) -> None:
    # Given the stack deployed with the writer failing no record on purpose
    deploy_to_emulator(engine, STAGE, parameters={"WriterFaultRate": "0"}, progress=print)
    functions = stack_functions(engine, stack_name(STAGE))
    writer, connections = functions["WriterFunction"], functions["ConnectionsFunction"]
    assert _failed_records(engine, writer) == []
    limit_before = _alias_environment(engine, connections)["MAX_CONNECTIONS_PER_CLIENT"]

    # When it is redeployed with the writer failing every record, and another connection limit
    deploy_to_emulator(
        engine,
        STAGE,
        parameters={"WriterFaultRate": "1", "MaxConnectionsPerClient": str(int(limit_before) + 2)},
        progress=print,
    )

    # Then invoking the writer's `live` alias fails the record on purpose, and the connections function's alias
    # holds the new limit
    assert len(_failed_records(engine, writer)) == 1
    assert _alias_environment(engine, connections)["MAX_CONNECTIONS_PER_CLIENT"] == str(int(limit_before) + 2)
