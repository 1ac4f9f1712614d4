"""Fixtures for the end-to-end suite: the deployed stack described by `invoke outputs --json`.

The outputs come from the JSON file named by E2E_OUTPUTS (what `invoke e2e` and `invoke test` pass), or else are
read from the engine named by E2E_TARGET (default ministack) for the stage E2E_STAGE (default dev), exactly as
`invoke outputs --json` reads them. When neither works every test fails with the reason: an end-to-end run that
silently tests nothing would look like a passing one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from devkit.engines import Engine, engine_from_outputs
from devkit.stack.auth import authorization_header

from .support import Api, Stack, make_purchase, unique_token

REQUIRED_OUTPUTS = (
    "ProductPurchaseApi",
    "QueueUrl",
    "DeadLetterQueueUrl",
    "TableName",
    "Engine",
    "Stage",
    "UserPoolId",
    "TokenUrl",
)
# The fault tests wait for messages to be received three times; running them last lets everything else finish
# first and keeps their queue traffic out of the other tests' "queue is quiet" checks.
# The engine restart runs last of all: nothing else has to wait for the engine to come back.
_RUN_LAST = ("test_dead_letters", "test_notifications_restart")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: any(item.nodeid.split("::")[0].endswith(f"{name}.py") for name in _RUN_LAST))


def _load_outputs() -> dict[str, Any]:
    path = os.environ.get("E2E_OUTPUTS")
    problem = None
    if path:
        try:
            outputs: dict[str, Any] = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            problem = f"E2E_OUTPUTS={path} is not a readable `invoke outputs --json` file: {error}"
    else:
        from devkit.core.project import ToolingError, check_stage
        from devkit.engines import get_engine
        from devkit.stack.outputs import reachable_outputs

        target = os.environ.get("E2E_TARGET", "ministack")
        stage = os.environ.get("E2E_STAGE", "dev")
        try:
            outputs = reachable_outputs(get_engine(target), check_stage(stage))
        except ToolingError as error:
            problem = (
                f"No stack to test ({target}, stage {stage}): {error}\nRun `uv run invoke e2e` (or `invoke up` "
                "first), or point E2E_OUTPUTS at a saved `invoke outputs --json`."
            )
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        pytest.fail(
            f"The stack outputs lack {', '.join(missing)}: is the stack fully deployed?", pytrace=False
        )
    return outputs


@pytest.fixture(scope="session")
def outputs() -> dict[str, Any]:
    return _load_outputs()


@pytest.fixture(scope="session")
def engine(outputs: dict[str, Any]) -> Engine:
    return engine_from_outputs(outputs)


@pytest.fixture(scope="session")
def aws_client(engine: Engine) -> Callable[[str], Any]:
    """A boto3 client for a service of the engine, with its root credentials (one per service)."""
    return cache(engine.client)


@pytest.fixture(scope="session")
def api_url(outputs: dict[str, Any]) -> str:
    url: str = outputs["ProductPurchaseApi"]
    return url


@pytest.fixture(scope="session")
def bearer(engine: Engine, outputs: dict[str, Any]) -> Callable[[], dict[str, str]]:
    """The Authorization header of the development client (both scopes); cached until shortly before expiry."""

    def header() -> dict[str, str]:
        return authorization_header(engine, outputs)

    return header


@pytest.fixture(scope="session")
def api(api_url: str, bearer: Callable[[], dict[str, str]]) -> Api:
    """The API, sending the development client's bearer token with every request (`Api.send` chooses)."""
    return Api(api_url, bearer)


@pytest.fixture(scope="session")
def stack(outputs: dict[str, Any], aws_client: Callable[[str], Any]) -> Stack:
    return Stack(outputs, aws_client)


@pytest.fixture(scope="session")
def queue_url(stack: Stack) -> str:
    return stack.queue_url


@pytest.fixture(scope="session")
def dlq_url(stack: Stack) -> str:
    return stack.dlq_url


@pytest.fixture(scope="session")
def table_name(stack: Stack) -> str:
    return stack.table_name


@pytest.fixture
def new_purchase() -> Callable[..., dict[str, Any]]:
    """Makes valid purchases with values no other test or run uses: `new_purchase(Quantity=3)`."""

    def make(**overrides: Any) -> dict[str, Any]:
        return make_purchase(unique_token(), **overrides)

    return make


@pytest.fixture
def quiet_queue(stack: Stack) -> Iterator[Stack]:
    """The stack, with the purchase queue empty before the test starts (earlier tests' writes applied)."""
    stack.wait_queue_empty(what="earlier writes to drain from the purchase queue")
    yield stack
