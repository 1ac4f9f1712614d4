"""The WebSocket side on AWS: connection records in DynamoDB, pushes and closes through API Gateway's
@connections API, and the user pool's app clients (is the client that opened a connection still there?)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from purchases.adapters.clients import API_CALLS
from purchases.config import CONNECTION_LIFETIME_SECONDS
from purchases.notifications import Connection, PushOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

CONNECTION_ID: Final = "ConnectionId"
EXPIRES_AT: Final = "ExpiresAt"
CLIENT_ID: Final = "ClientId"
ADMIN: Final = "Admin"
TOKEN_EXPIRES_AT: Final = "TokenExpiresAt"
# The template's index of the connection table by client (ClientId, with both expiries projected): counting one
# client's connections is one Query, whatever the table holds.
CLIENT_INDEX: Final = "ClientConnections"
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


def lazy_cognito_client() -> Callable[[], Any]:
    @functools.cache
    def client() -> Any:
        return boto3.client("cognito-idp", config=API_CALLS.config())

    return client


def _number(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _connection(item: dict[str, Any]) -> Connection:
    # A record without an owner or token expiry (written by an older $connect, or by hand) is served nothing and
    # counts as expired, so the notifier closes it.
    client_id = item.get(CLIENT_ID)
    return Connection(
        connection_id=str(item[CONNECTION_ID]),
        client_id=client_id if isinstance(client_id, str) else "",
        admin=item.get(ADMIN) is True,
        token_expires_at=_number(item.get(TOKEN_EXPIRES_AT, 0)),
    )


class DynamoDbConnectionStore:
    def __init__(self, table: Callable[[], Table], clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def connections(self) -> list[Connection]:
        now = int(self._clock())
        table = self._table()
        paginator = table.meta.client.get_paginator("scan")
        found: list[Connection] = []
        for page in paginator.paginate(
            TableName=table.name, ProjectionExpression="#id, #expires, #client, #admin, #token",
            ExpressionAttributeNames={
                "#id": CONNECTION_ID, "#expires": EXPIRES_AT, "#client": CLIENT_ID, "#admin": ADMIN,
                "#token": TOKEN_EXPIRES_AT,
            },
        ):  # fmt: skip
            # The resource's client hands back plain Python values (numbers as Decimal).
            for item in page.get("Items", []):
                # DynamoDB deletes expired items up to days late; an expired record is a dead connection.
                expires = item.get(EXPIRES_AT)
                if expires is None or _number(expires) > now:
                    found.append(_connection(item))
        return found

    def live_connection_count(self, client_id: str, now: float) -> int:
        # The index is eventually consistent: connections opened in the same instant may each miss the others.
        table = self._table()
        paginator = table.meta.client.get_paginator("query")
        moment = int(now)
        pages = paginator.paginate(
            TableName=table.name,
            IndexName=CLIENT_INDEX,
            KeyConditionExpression="#client = :client",
            FilterExpression="#token > :now AND #expires > :now",
            ExpressionAttributeNames={
                "#client": CLIENT_ID,
                "#token": TOKEN_EXPIRES_AT,
                "#expires": EXPIRES_AT,
            },
            # The resource's client takes plain Python values, as it hands them back.
            ExpressionAttributeValues={":client": client_id, ":now": moment},
            Select="COUNT",
        )
        return sum(int(page.get("Count", 0)) for page in pages)

    def remember(self, connection: Connection, connected_at_ms: int) -> None:
        self._table().put_item(
            Item={
                CONNECTION_ID: connection.connection_id,
                CLIENT_ID: connection.client_id,
                ADMIN: connection.admin,
                TOKEN_EXPIRES_AT: connection.token_expires_at,
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

    def disconnect(self, connection_id: str) -> None:
        try:
            self._client().delete_connection(ConnectionId=connection_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "GoneException":
                logger.warning("Closing %s refused: %s", connection_id, error)
        except BotoCoreError as error:
            logger.warning("Closing %s failed: %s", connection_id, error)


class CognitoClientDirectory:
    def __init__(self, client: Callable[[], Any], user_pool_id: str) -> None:
        self._client = client
        self._user_pool_id = user_pool_id

    def exists(self, client_id: str) -> bool:
        try:
            self._client().describe_user_pool_client(UserPoolId=self._user_pool_id, ClientId=client_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
        return True
