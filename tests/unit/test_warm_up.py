"""The warm-up invocation `invoke up` sends the sender and the writer: answered at once, with no side effect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

import sender
import writer
from purchases.warm_up import WARM_UP_EVENT, is_warm_up


class _Untouchable:
    """Fails the test on any use: a warm-up must not reach the store, the queue or the fault injector."""

    def __getattr__(self, name: str) -> NoReturn:
        pytest.fail(f"the warm-up used {name}")

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        pytest.fail("the warm-up built an adapter")


@pytest.fixture
def nothing_may_be_used(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    sender.commands.override(_Untouchable())  # type: ignore[arg-type]
    writer.store.override(_Untouchable())
    monkeypatch.setattr(writer, "faults", _Untouchable())
    yield
    sender.commands.override(None)
    writer.store.override(None)


@pytest.mark.usefixtures("nothing_may_be_used")
def test_the_sender_answers_a_warm_up_without_queueing_anything(lambda_context: LambdaContext) -> None:
    assert sender.lambda_handler(dict(WARM_UP_EVENT), lambda_context) == {"warm": True}


@pytest.mark.usefixtures("nothing_may_be_used")
def test_the_writer_answers_a_warm_up_without_writing_anything(lambda_context: LambdaContext) -> None:
    assert writer.lambda_handler(dict(WARM_UP_EVENT), lambda_context) == {"batchItemFailures": []}


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
