"""The dead-letter queue: look at what failed, and move it back to the queue once the cause is fixed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from devkit.core.waiting import wait_for
from devkit.engines import Engine
from devkit.stack import queues

_MOVE_TIMEOUT = 300.0


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    receive_count: int
    sent_at_ms: int


def peek(engine: Engine, dlq_url: str, *, limit: int = 100) -> list[DeadLetter]:
    """The DLQ's messages (up to `limit`), left in the DLQ and visible again afterwards."""
    return [
        DeadLetter(
            message["MessageId"],
            message["Body"],
            int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
            int(message.get("Attributes", {}).get("SentTimestamp", 0)),
        )
        for message in queues.peek(engine.client("sqs"), dlq_url, limit=limit)
    ]


def redrive(engine: Engine, dlq_url: str, queue_url: str, *, progress: Callable[[str], None] = print) -> int:
    """Move every DLQ message back to the queue; returns how many moved.

    Uses SQS's own StartMessageMoveTask where the engine has it. Otherwise (MiniStack) each message is sent to
    the queue and only then deleted from the DLQ, so a crash in between can duplicate a message but never lose
    one, and the writer's conditional writes make a duplicate harmless.
    """
    sqs = engine.client("sqs")
    dlq_arn, queue_arn = (_arn(sqs, url) for url in (dlq_url, queue_url))
    try:
        task = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=queue_arn)
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"InvalidAction", "UnsupportedOperation", "NotImplemented"}:
            raise
        progress("This engine has no StartMessageMoveTask: moving messages one by one.")
        return _move_one_by_one(sqs, dlq_url, queue_url)
    progress(f"Started message move task {task['TaskHandle']}.")
    finished = wait_for(
        lambda: _finished_task(sqs, dlq_arn, task["TaskHandle"]),
        timeout=_MOVE_TIMEOUT,
        interval=1.0,
        what="the message move task",
    )
    if finished["Status"] != "COMPLETED":
        raise RuntimeError(
            f"Message move task ended {finished['Status']}: {finished.get('FailureReason', '')}"
        )
    moved: int = finished.get("ApproximateNumberOfMessagesMoved", 0)
    return moved


def _move_one_by_one(sqs: Any, dlq_url: str, queue_url: str) -> int:
    moved = 0
    while batch := queues.receive(sqs, dlq_url):
        for message in batch:
            attributes = message.get("MessageAttributes")
            sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=message["Body"],
                **({"MessageAttributes": attributes} if attributes else {}),
            )
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


def _arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn


def _finished_task(sqs: Any, source_arn: str, handle: str) -> dict[str, Any] | None:
    for task in sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10).get("Results", []):
        if task.get("TaskHandle") == handle and task["Status"] in {"COMPLETED", "FAILED", "CANCELLED"}:
            result: dict[str, Any] = task
            return result
    return None
