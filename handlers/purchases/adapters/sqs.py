"""`WriteQueue` on an SQS queue: each message is queued with its MAC (`purchases.signing`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3

from purchases.adapters.clients import CallBudget
from purchases.messages import WriteMessage, encode_checked
from purchases.ports import MessageSigner
from purchases.signing import mac_attribute

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient


def lazy_sqs_client(budget: CallBudget) -> Callable[[], SQSClient]:
    """A factory building the SQS client on first use, then always returning that one."""

    @functools.cache
    def client() -> SQSClient:
        return boto3.client("sqs", config=budget.config())

    return client


class SqsWriteQueue:
    def __init__(self, queue_url: str, client: Callable[[], SQSClient], signer: MessageSigner) -> None:
        self._queue_url = queue_url
        self._client = client
        self._signer = signer

    def enqueue_write(self, message: WriteMessage) -> str:
        body = encode_checked(message)
        # The writer applies only a body whose MAC verifies: the signature is made over the exact bytes sent.
        response = self._client().send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes=mac_attribute(self._signer.sign(body)),  # type: ignore[arg-type]
        )
        return response["MessageId"]
