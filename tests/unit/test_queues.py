"""The one module that reads, counts and deletes queue messages (`invoke dlq`, the benchmark, the e2e suite), on
moto's SQS."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from devkit.stack import queues

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@pytest.fixture
def queue(sqs_client: SQSClient) -> str:
    url: str = sqs_client.create_queue(QueueName=f"queues-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return url


def _send(sqs: Any, url: str, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)


def test_peek_reads_every_message_once_and_leaves_them_visible(sqs_client: SQSClient, queue: str) -> None:
    # Given 25 messages (more than one receive returns)
    _send(sqs_client, queue, *(f"m{n}" for n in range(25)))
    # When they are peeked at
    seen = queues.peek(sqs_client, queue)
    # Then each is seen once, and all are still in the queue and visible
    assert sorted(message["Body"] for message in seen) == sorted(f"m{n}" for n in range(25))
    assert queues.depth(sqs_client, queue) == 25
    assert len(queues.peek(sqs_client, queue, limit=10)) == 10


def test_delete_matching_removes_only_the_matching_ones(sqs_client: SQSClient, queue: str) -> None:
    _send(sqs_client, queue, "ours-1", "theirs-1", "ours-2", "theirs-2")
    assert queues.delete_matching(sqs_client, queue, lambda body: body.startswith("ours")) == 2
    assert sorted(message["Body"] for message in queues.peek(sqs_client, queue)) == ["theirs-1", "theirs-2"]


def test_depth_counts_waiting_and_in_flight_messages(sqs_client: SQSClient, queue: str) -> None:
    _send(sqs_client, queue, "a", "b", "c")
    held = queues.receive(sqs_client, queue)
    assert queues.depth(sqs_client, queue) == 3
    for message in held:
        sqs_client.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert queues.depth(sqs_client, queue) == 0
    assert queues.wait_until_empty(sqs_client, queue, timeout=1)
