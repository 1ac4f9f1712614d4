"""`WriteQueue` on an SQS queue."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3

from purchases.adapters.clients import CallBudget
from purchases.messages import WriteMessage, encode_checked

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient


def lazy_sqs_client(budget: CallBudget) -> Callable[[], SQSClient]:
    """A factory building the SQS client on first use, then always returning that one."""

    @functools.cache
    def client() -> SQSClient:
        return boto3.client("sqs", config=budget.config())

    return client


class SqsWriteQueue:
    def __init__(self, queue_url: str, client: Callable[[], SQSClient]) -> None:
        self._queue_url = queue_url
        self._client = client

    def enqueue_write(self, message: WriteMessage) -> str:
        body = encode_checked(message)
        response = self._client().send_message(QueueUrl=self._queue_url, MessageBody=body)
        return response["MessageId"]
