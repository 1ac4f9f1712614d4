"""The WebSocket side on AWS: connection records in DynamoDB, pushes through API Gateway's @connections API."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from purchases.config import CONNECTION_LIFETIME_SECONDS
from purchases.notifications import PushOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

CONNECTION_ID: Final = "ConnectionId"
EXPIRES_AT: Final = "ExpiresAt"
# One slow client must cost little: short timeouts and no retry (a retried push could arrive after a later one).
_PUSH_CONFIG: Final = Config(
    connect_timeout=1, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"}
)

logger = logging.getLogger(__name__)


def lazy_connection_table(table_name: str) -> Callable[[], Table]:
    @functools.cache
    def table() -> Table:
        return boto3.resource("dynamodb").Table(table_name)

    return table


def lazy_management_client(endpoint_url: str) -> Callable[[], Any]:
    @functools.cache
    def client() -> Any:
        return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=_PUSH_CONFIG)

    return client


class DynamoDbConnectionStore:
    def __init__(self, table: Callable[[], Table], clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def connection_ids(self) -> list[str]:
        now = int(self._clock())
        table = self._table()
        paginator = table.meta.client.get_paginator("scan")
        ids: list[str] = []
        for page in paginator.paginate(
            TableName=table.name, ProjectionExpression="#id, #expires",
            ExpressionAttributeNames={"#id": CONNECTION_ID, "#expires": EXPIRES_AT},
        ):  # fmt: skip
            # The resource's client hands back plain Python values (numbers as Decimal).
            for item in page.get("Items", []):
                # DynamoDB deletes expired items up to days late; an expired record is a dead connection.
                expires = item.get(EXPIRES_AT)
                if expires is None or int(str(expires)) > now:
                    ids.append(str(item[CONNECTION_ID]))
        return ids

    def remember(self, connection_id: str, principal: str, connected_at_ms: int) -> None:
        self._table().put_item(
            Item={
                CONNECTION_ID: connection_id,
                "Principal": principal,
                "ConnectedAt": connected_at_ms,
                EXPIRES_AT: connected_at_ms // 1000 + CONNECTION_LIFETIME_SECONDS,
            }
        )

    def forget(self, connection_id: str) -> None:
        try:
            self._table().delete_item(Key={CONNECTION_ID: connection_id})
        except (BotoCoreError, ClientError):
            # The record expires by TTL anyway; failing the batch for it would re-send to everyone.
            logger.warning("Could not forget connection %s", connection_id, exc_info=True)


class ApiGatewayPusher:
    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client

    def push(self, connection_id: str, data: bytes) -> PushOutcome:
        try:
            self._client().post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "GoneException":
                return PushOutcome.GONE
            logger.warning("Push to %s refused: %s", connection_id, error)
            return PushOutcome.FAILED
        except BotoCoreError as error:
            logger.warning("Push to %s failed: %s", connection_id, error)
            return PushOutcome.FAILED
        return PushOutcome.DELIVERED
