"""The warm-up invocation `invoke up` sends the sender and the writer: answered at once, with no side effect."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

import sender
import writer
from purchases.faults import FaultInjector
from purchases.warm_up import WARM_UP_EVENT, is_warm_up, is_warm_up_body


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
    monkeypatch.setattr(writer, "faults", FaultInjector(0.0, 0.0))
    yield
    sender.commands.override(None)
    writer.store.override(None)


@pytest.mark.usefixtures("nothing_may_be_used")
def test_the_sender_answers_a_warm_up_without_queueing_anything(lambda_context: LambdaContext) -> None:
    assert sender.lambda_handler(dict(WARM_UP_EVENT), lambda_context) == {"warm": True}


@pytest.mark.usefixtures("nothing_may_be_used")
def test_the_writer_acknowledges_a_warm_up_message_without_writing_anything(
    sqs_event: Callable[..., dict[str, Any]], lambda_context: LambdaContext
) -> None:
    event = sqs_event(("warm-1", json.dumps(WARM_UP_EVENT)))
    assert writer.lambda_handler(event, lambda_context) == {"batchItemFailures": []}


def test_no_write_message_is_taken_for_a_warm_up_body() -> None:
    assert is_warm_up_body(json.dumps(WARM_UP_EVENT))
    assert not is_warm_up_body('{"action": "create", "id": "x", "stamp": 1, "devkitWarmUp": true}')
    assert not is_warm_up_body("not json")


@pytest.mark.parametrize(
    "event",
    [
        {"devkitWarmUp": "true"},
        {"devkitWarmUp": True, "httpMethod": "POST"},
        {"Records": [], "devkitWarmUp": True},
        [WARM_UP_EVENT],
        None,
    ],
)
def test_no_real_event_is_taken_for_a_warm_up(event: Any) -> None:
    assert not is_warm_up(event)
