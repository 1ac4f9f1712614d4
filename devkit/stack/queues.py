"""Reading, counting and deleting SQS messages, for `invoke dlq`, the benchmark and the end-to-end suite (one copy).

Each function takes an SQS client, so the tests can pass the one they built from `invoke outputs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devkit.core.waiting import DeadlineExceeded, wait_for

# Received messages stay invisible this long: enough to read the whole queue once without seeing one twice.
HOLD_SECONDS = 30
_DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def counts(sqs: Any, url: str) -> dict[str, int]:
    """Messages waiting (`visible`), in flight (`inFlight`) and `delayed`."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_DEPTH_ATTRIBUTES))["Attributes"]
    visible, in_flight, delayed = (int(attributes.get(name, 0)) for name in _DEPTH_ATTRIBUTES)
    return {"visible": visible, "inFlight": in_flight, "delayed": delayed}


def depth(sqs: Any, url: str) -> int:
    """Messages waiting, in flight and delayed."""
    return sum(counts(sqs, url).values())


def wait_until_empty(sqs: Any, url: str, timeout: float, *, interval: float = 0.5) -> bool:
    """True once the queue holds nothing, False when `timeout` passed first."""
    try:
        wait_for(lambda: depth(sqs, url) == 0, timeout=timeout, interval=interval, what="the queue to empty")
    except DeadlineExceeded:
        return False
    return True


def receive(sqs: Any, url: str, *, hold: int = HOLD_SECONDS) -> list[dict[str, Any]]:
    """Up to 10 messages, with their attributes, invisible to others for `hold` seconds."""
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=hold,
        WaitTimeSeconds=0,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return messages


def hold_all(sqs: Any, url: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Every message in the queue (up to `limit`), received once each and held invisible; `release` them or
    delete them."""
    held: dict[str, dict[str, Any]] = {}
    while limit is None or len(held) < limit:
        fresh = [message for message in receive(sqs, url) if message["MessageId"] not in held]
        if not fresh:
            break
        held.update((message["MessageId"], message) for message in fresh)
    return list(held.values())


def release(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    """Make held messages visible again at once."""
    for message in messages:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )


def peek(sqs: Any, url: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The queue's messages (up to `limit`), left in the queue and visible again afterwards."""
    messages = hold_all(sqs, url, limit=limit)
    release(sqs, url, messages)
    return messages[:limit] if limit is not None else messages


def delete_matching(sqs: Any, url: str, matches: Callable[[str], bool]) -> int:
    """Delete the messages whose body `matches`, leave every other one as it was; returns how many went."""
    deleted = 0
    others = []
    for message in hold_all(sqs, url):
        if matches(message["Body"]):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            deleted += 1
        else:
            others.append(message)
    release(sqs, url, others)
    return deleted
