"""The WebSocket side on AWS: connection records in DynamoDB, each client's leases (its places under the
connection limit), pushes and closes through API Gateway's @connections API, and the user pool's app clients (is
the client that opened a connection still there?)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
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
# The template's index of the connection table by client (ClientId, with both expiries projected): one client's
# connections are one Query, whatever the table holds.
CLIENT_INDEX: Final = "ClientConnections"
# The template's sparse index of admin connections: only their records carry ADMIN_FEED (= ADMIN_FEED_VALUE).
ADMIN_INDEX: Final = "AdminConnections"
ADMIN_FEED: Final = "AdminFeed"
ADMIN_FEED_VALUE: Final = "all"
# The lease table (key CLIENT_ID): LEASES maps each of the client's connection ids to the epoch second its place
# under the limit ends (its token's exp, or its record's end if sooner).
LEASES: Final = "Leases"
# Admission's tries: add the lease; create the client's lease map or drop ended leases; add again.
_CLAIM_ATTEMPTS: Final = 3
# Owners' connections are read side by side: a batch of changes of many clients waits for one round trip.
_MAX_QUERY_WORKERS: Final = 8
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


def _connection(item: dict[str, Any], client_id: Any = None) -> Connection:
    # A record without an owner or token expiry (written by hand, or by an older $connect) is served nothing and
    # counts as expired, so it is closed. A record past its lifetime is a dead connection (API Gateway closes
    # every WebSocket after 2 hours), expired whatever its token says.
    client_id = item.get(CLIENT_ID) if client_id is None else client_id
    token_expires_at = _number(item.get(TOKEN_EXPIRES_AT, 0))
    if item.get(EXPIRES_AT) is not None:
        token_expires_at = min(token_expires_at, _number(item[EXPIRES_AT]))
    return Connection(
        connection_id=str(item[CONNECTION_ID]),
        client_id=client_id if isinstance(client_id, str) else "",
        admin=item.get(ADMIN) is True or item.get(ADMIN_FEED) == ADMIN_FEED_VALUE,
        token_expires_at=token_expires_at,
    )


def _is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoDbConnectionStore:
    def __init__(
        self,
        table: Callable[[], Table],
        leases: Callable[[], Table],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._leases = leases
        self._clock = clock

    def _query(self, **query: Any) -> list[dict[str, Any]]:
        table = self._table()
        # The client is thread-safe (the Table resource is not): owners are queried side by side.
        paginator = table.meta.client.get_paginator("query")
        items: list[dict[str, Any]] = []
        for page in paginator.paginate(
            TableName=table.name,
            # DynamoDB deletes expired items up to days late; an expired record is a dead connection.
            FilterExpression="#expires > :now",
            **query,
        ):
            items.extend(page.get("Items", []))
        return items

    def _of_owner(self, owner: str, now: int) -> list[Connection]:
        items = self._query(
            IndexName=CLIENT_INDEX,
            KeyConditionExpression="#client = :client",
            ExpressionAttributeNames={"#client": CLIENT_ID, "#expires": EXPIRES_AT},
            # The resource's client takes and hands back plain Python values (numbers as Decimal).
            ExpressionAttributeValues={":client": owner, ":now": now},
        )
        return [_connection(item, owner) for item in items]

    def _of_admins(self, now: int) -> list[Connection]:
        items = self._query(
            IndexName=ADMIN_INDEX,
            KeyConditionExpression="#feed = :feed",
            ExpressionAttributeNames={"#feed": ADMIN_FEED, "#expires": EXPIRES_AT},
            ExpressionAttributeValues={":feed": ADMIN_FEED_VALUE, ":now": now},
        )
        return [_connection(item) for item in items]

    def recipients(self, owners: Collection[str]) -> list[Connection]:
        now = int(self._clock())
        owners = sorted(set(owners))
        with ThreadPoolExecutor(max_workers=min(_MAX_QUERY_WORKERS, len(owners) + 1)) as pool:
            admins = pool.submit(self._of_admins, now)
            per_owner = list(pool.map(lambda owner: self._of_owner(owner, now), owners))
        found: dict[str, Connection] = {}
        for connections in per_owner:
            found.update((connection.connection_id, connection) for connection in connections)
        # An admin connection may also be its own client's: the admin index's record (admin, every change) wins.
        found.update((connection.connection_id, connection) for connection in admins.result())
        return list(found.values())

    def every_connection(self) -> list[Connection]:
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
            found.extend(_connection(item) for item in page.get("Items", []))
        return found

    def claim(self, connection: Connection, *, limit: int, now: float, connected_at_ms: int) -> bool:
        record_ends = connected_at_ms // 1000 + CONNECTION_LIFETIME_SECONDS
        item: dict[str, Any] = {
            CONNECTION_ID: connection.connection_id,
            CLIENT_ID: connection.client_id,
            ADMIN: connection.admin,
            TOKEN_EXPIRES_AT: connection.token_expires_at,
            "ConnectedAt": connected_at_ms,
            EXPIRES_AT: record_ends,
        }
        if connection.admin:
            item[ADMIN_FEED] = ADMIN_FEED_VALUE
        # The record first, the lease second: a $connect that dies in between (a timeout) leaves a record of a
        # socket API Gateway never opened, which holds no place (the first push to it answers gone and forgets
        # it), rather than a lease that would hold a place until the token expires.
        table = self._table()
        table.put_item(Item=item)
        lease_ends = min(connection.token_expires_at, record_ends)
        try:
            leased = self._lease(
                connection, lease_ends=lease_ends, limit=limit, now=now, keep_until=record_ends
            )
        except Exception:
            table.delete_item(Key={CONNECTION_ID: connection.connection_id})
            raise
        if not leased:
            table.delete_item(Key={CONNECTION_ID: connection.connection_id})
        return leased

    def _lease(
        self, connection: Connection, *, lease_ends: int, limit: int, now: float, keep_until: int
    ) -> bool:
        """Add the connection's lease to its client's map only while the map holds fewer than `limit`: DynamoDB
        applies updates of one item one at a time, so simultaneous connects cannot all see room."""
        leases = self._leases()
        key = {CLIENT_ID: connection.client_id}
        for _ in range(_CLAIM_ATTEMPTS):
            try:
                leases.update_item(
                    Key=key,
                    UpdateExpression="SET #leases.#connection = :ends, #expires = :keep",
                    ConditionExpression="attribute_exists(#leases) AND size(#leases) < :limit",
                    ExpressionAttributeNames={
                        "#leases": LEASES, "#connection": connection.connection_id, "#expires": EXPIRES_AT,
                    },
                    ExpressionAttributeValues={":ends": lease_ends, ":limit": limit, ":keep": keep_until},
                )  # fmt: skip
                return True
            except ClientError as error:
                if not _is_conditional_failure(error):
                    raise
            held = leases.get_item(Key=key, ConsistentRead=True).get("Item") or {}
            current = held.get(LEASES)
            if not isinstance(current, dict):
                # The client's first connection (or its map expired by TTL): make an empty map, then add.
                leases.update_item(
                    Key=key,
                    UpdateExpression="SET #leases = if_not_exists(#leases, :empty), #expires = :keep",
                    ExpressionAttributeNames={"#leases": LEASES, "#expires": EXPIRES_AT},
                    ExpressionAttributeValues={":empty": {}, ":keep": keep_until},
                )
                continue
            ended = [connection_id for connection_id, ends in current.items() if _number(ends) <= now]
            if not ended:
                return False
            # An ended lease is a connection closed by now (its token expired) or never recorded: it holds no
            # place, whatever else happens to its record.
            names = {f"#ended{index}": connection_id for index, connection_id in enumerate(ended)}
            leases.update_item(
                Key=key,
                UpdateExpression="REMOVE " + ", ".join(f"#leases.{name}" for name in names),
                ConditionExpression="attribute_exists(#leases)",
                ExpressionAttributeNames={"#leases": LEASES, **names},
            )
        return False

    def _release(self, client_id: str, connection_id: str) -> None:
        try:
            self._leases().update_item(
                Key={CLIENT_ID: client_id},
                UpdateExpression="REMOVE #leases.#connection",
                # Never creates an item for a client that has none.
                ConditionExpression="attribute_exists(#leases)",
                ExpressionAttributeNames={"#leases": LEASES, "#connection": connection_id},
            )
        except ClientError as error:
            if not _is_conditional_failure(error):
                logger.warning("Could not release the lease of %s", connection_id, exc_info=True)
        except BotoCoreError:
            # The lease ends with the token anyway.
            logger.warning("Could not release the lease of %s", connection_id, exc_info=True)

    def forget(self, connection_id: str) -> None:
        try:
            old = self._table().delete_item(Key={CONNECTION_ID: connection_id}, ReturnValues="ALL_OLD")
        except (BotoCoreError, ClientError):
            # The record expires by TTL anyway; failing the batch for it would re-send to everyone.
            logger.warning("Could not forget connection %s", connection_id, exc_info=True)
            return
        client_id = (old.get("Attributes") or {}).get(CLIENT_ID)
        # Only the call that deleted the record gives its lease back: $disconnect after the notifier or the
        # sweep closed a connection finds no record and releases nothing twice.
        if isinstance(client_id, str) and client_id:
            self._release(client_id, connection_id)


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
    """The pool's app clients by ListUserPoolClients (ids and names; unlike DescribeUserPoolClient, never a
    client secret): one call per 60 clients, whatever the number of connections."""

    def __init__(self, client: Callable[[], Any], user_pool_id: str) -> None:
        self._client = client
        self._user_pool_id = user_pool_id

    def present_clients(self) -> frozenset[str]:
        paginator = self._client().get_paginator("list_user_pool_clients")
        return frozenset(
            str(client["ClientId"])
            for page in paginator.paginate(UserPoolId=self._user_pool_id, PaginationConfig={"PageSize": 60})
            for client in page.get("UserPoolClients", [])
        )
