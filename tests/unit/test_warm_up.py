"""The warm-up `invoke up` sends: the sender answers a CORS preflight by itself, the test stages' writer entry point
drops the warm-up message before the batch, and the production writer has no hook for either."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

import sender
import writer
import writer_with_hooks
from devkit.delivery.warm import WRITER_WITH_HOOKS
from devkit.stack.events import preflight_event
from purchases.faults import FaultInjector
from purchases.warm_up import WARM_UP_BODY, is_warm_up_body, without_warm_ups


class _Untouchable:
    """Fails the test on any use: a warm-up must not reach the store or the queue."""

    def __getattr__(self, name: str) -> NoReturn:
        pytest.fail(f"the warm-up used {name}")

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        pytest.fail("the warm-up built an adapter")


@pytest.fixture
def nothing_may_be_used(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    sender.commands.override(_Untouchable())  # type: ignore[arg-type]
    writer.store.override(_Untouchable())
    monkeypatch.setattr(writer_with_hooks, "faults", FaultInjector(0.0, 0.0))
    yield
    sender.commands.override(None)
    writer.store.override(None)


@pytest.mark.usefixtures("nothing_may_be_used")
def test_the_sender_answers_the_warm_up_preflight_itself(lambda_context: LambdaContext) -> None:
    # When the sender is invoked with the warm-up's CORS preflight, then its router answers 204, using nothing
    assert sender.lambda_handler(preflight_event(), lambda_context)["statusCode"] == 204


@pytest.mark.usefixtures("nothing_may_be_used")
def test_the_test_stages_writer_drops_a_warm_up_message_before_the_batch(
    sqs_event: Callable[..., dict[str, Any]], lambda_context: LambdaContext
) -> None:
    event = sqs_event(("warm-1", WARM_UP_BODY))
    assert writer_with_hooks.lambda_handler(event, lambda_context) == {"batchItemFailures": []}


@pytest.mark.usefixtures("nothing_may_be_used")
def test_the_production_writer_has_no_warm_up_or_fault_hook(
    sqs_event: Callable[..., dict[str, Any]], lambda_context: LambdaContext
) -> None:
    # A warm-up body is not a write message: the production writer refuses it like any other
    event = sqs_event(("warm-1", WARM_UP_BODY))
    assert writer.lambda_handler(event, lambda_context) == {
        "batchItemFailures": [{"itemIdentifier": "warm-1"}]
    }
    assert not hasattr(writer, "faults")
    assert f"{writer_with_hooks.__name__}.{writer_with_hooks.lambda_handler.__name__}" == WRITER_WITH_HOOKS


def test_only_warm_up_records_are_dropped(sqs_event: Callable[..., dict[str, Any]]) -> None:
    write = '{"action": "create", "id": "x", "stamp": 1, "devkitWarmUp": true}'
    event = sqs_event(("warm-1", WARM_UP_BODY), ("write-1", write), ("junk-1", "not json"))
    assert [record["messageId"] for record in without_warm_ups(event)["Records"]] == ["write-1", "junk-1"]
    assert not is_warm_up_body(json.dumps({"devkitWarmUp": "true"}))
