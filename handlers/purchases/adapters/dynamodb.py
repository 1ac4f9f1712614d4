"""`PurchaseStore` on a DynamoDB table, through boto3's resource layer (it converts types; numbers
come and go as Decimal, never float).

Item = the purchase's public fields + bookkeeping: `Version` (stamp of the write that produced the
item), `Deleted` (tombstone flag), `ExpiresAt` (TTL epoch seconds, tombstones only), `ClientId` (the OAuth
client whose write produced the item; absent for writes queued before callers were authenticated) and `Listed`
(live purchases only: the partition key of the sparse `LivePurchases` index the list is read from).

Listing reads that index, one Query of at most `limit` items per page: a tombstone has no `Listed`
attribute, so it is not in the index, and a page costs the same however many tombstones the table holds
(deleted purchases stay as tombstones for 30 days, and anyone can make thousands through the API).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import boto3
from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, DynamoDBPersistenceLayer
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from purchases.adapters.clients import CallBudget
from purchases.identifiers import parse_purchase_id
from purchases.model import AttributeValue
from purchases.ports import InvalidCursor, Page, RecordState, StoredPurchase, WriteOutcome
from purchases.schema import ID_FIELD, PUBLIC_FIELDS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

    # Type-only: importing the message module would compile the purchase validator, which the
    # reader (also a user of this adapter) never needs.
    from purchases.messages import WriteMessage

VERSION: Final = "Version"
DELETED: Final = "Deleted"
EXPIRES_AT: Final = "ExpiresAt"
CLIENT_ID: Final = "ClientId"
# The sparse index of live purchases (its name and keys are the template's LivePurchases index): every live
# item carries LISTED = LIVE_PARTITION, sorted by id within that one partition. One partition caps the
# index at DynamoDB's per-partition write rate (about 1,000 writes/s); past that, shard the value.
LIVE_INDEX: Final = "LivePurchases"
LISTED: Final = "Listed"
LIVE_PARTITION: Final = "live"
# Long enough that no delayed or redriven message (SQS keeps them 14 days at most) can arrive
# after its tombstone is gone and bring a deleted purchase back.
TOMBSTONE_LIFETIME_SECONDS: Final = 30 * 24 * 60 * 60
_NANOSECONDS: Final = 1_000_000_000
_MAX_CURSOR_LENGTH: Final = 256

# The rules of `purchases.ordering`, keyed by WriteAction value.
_CONDITIONS: Final[Mapping[str, tuple[str, dict[str, str]]]] = {
    "create": ("attribute_not_exists(#id)", {"#id": ID_FIELD}),
    "update": (
        "attribute_not_exists(#id) OR (#version < :stamp AND attribute_not_exists(#deleted))",
        {"#id": ID_FIELD, "#version": VERSION, "#deleted": DELETED},
    ),
    "delete": ("attribute_not_exists(#deleted)", {"#deleted": DELETED}),
}


def idempotency_store(table_name: str, budget: CallBudget) -> BasePersistenceLayer:
    """Powertools' DynamoDB persistence layer on the idempotency table (its default layout: key `id`), with the
    same timeouts and retries as the function's other calls."""
    return DynamoDBPersistenceLayer(table_name=table_name, boto_config=budget.config())


def lazy_table(table_name: str, budget: CallBudget) -> Callable[[], Table]:
    """A factory building the Table resource on first use, then always returning that one."""

    @functools.cache
    def table() -> Table:
        return boto3.resource("dynamodb", config=budget.config()).Table(table_name)

    return table


class DynamoDbPurchaseStore:
    def __init__(self, table: Callable[[], Table]) -> None:
        self._table = table

    def get(self, purchase_id: str) -> StoredPurchase | None:
        item = self._table().get_item(Key={ID_FIELD: purchase_id}).get("Item")
        return _stored_purchase(item) if item is not None else None

    def state(self, purchase_id: str) -> RecordState:
        # The key and the tombstone flag only: an existence check has no business reading personal data.
        item = (
            self._table()
            .get_item(
                Key={ID_FIELD: purchase_id},
                ProjectionExpression="#id, #deleted",
                ExpressionAttributeNames={"#id": ID_FIELD, "#deleted": DELETED},
            )
            .get("Item")
        )
        if item is None:
            return RecordState.ABSENT
        return RecordState.DELETED if item.get(DELETED) else RecordState.LIVE

    def page(self, limit: int, cursor: str | None) -> Page:
        # One Query, whatever the cursor: bounded work per request. A page may hold fewer than `limit`
        # items (DynamoDB stops a page at 1 MB) and still have a next cursor; following the cursors
        # reaches every live purchase once, in id order.
        condition = Key(LISTED).eq(LIVE_PARTITION)
        if cursor is None:
            response = self._table().query(
                IndexName=LIVE_INDEX, KeyConditionExpression=condition, Limit=limit
            )
        else:
            start_key = {**decode_cursor(cursor), LISTED: LIVE_PARTITION}
            response = self._table().query(
                IndexName=LIVE_INDEX,
                KeyConditionExpression=condition,
                Limit=limit,
                ExclusiveStartKey=start_key,
            )
        items: list[Mapping[str, AttributeValue]] = [
            _public_attributes(item) for item in response.get("Items", [])
        ]
        last_key = response.get("LastEvaluatedKey")
        return Page(items=items, next_cursor=encode_cursor(last_key) if last_key else None)

    def apply_write(self, message: WriteMessage) -> WriteOutcome:
        condition, names = _CONDITIONS[message.action]
        values: dict[str, Any] = {":stamp": message.stamp} if ":stamp" in condition else {}
        try:
            if values:
                self._table().put_item(
                    Item=item_for(message),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            else:
                self._table().put_item(
                    Item=item_for(message), ConditionExpression=condition, ExpressionAttributeNames=names
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return WriteOutcome.SUPERSEDED
            raise
        return WriteOutcome.APPLIED


def item_for(message: WriteMessage) -> dict[str, Any]:
    """The item `message` puts in the table."""
    caller = {CLIENT_ID: message.client_id} if message.client_id is not None else {}
    if message.purchase is None:
        return {
            ID_FIELD: message.purchase_id,
            DELETED: True,
            VERSION: message.stamp,
            EXPIRES_AT: message.stamp // _NANOSECONDS + TOMBSTONE_LIFETIME_SECONDS,
            **caller,
        }
    return {
        ID_FIELD: message.purchase_id,
        **message.purchase.attributes(),
        VERSION: message.stamp,
        LISTED: LIVE_PARTITION,
        **caller,
    }


def _stored_purchase(item: Mapping[str, Any]) -> StoredPurchase:
    deleted = bool(item.get(DELETED, False))
    return StoredPurchase(
        purchase_id=str(item[ID_FIELD]),
        attributes={ID_FIELD: str(item[ID_FIELD])} if deleted else _public_attributes(item),
        version=int(item.get(VERSION, 0)),
        deleted=deleted,
    )


def _public_attributes(item: Mapping[str, Any]) -> dict[str, AttributeValue]:
    # An allow-list rather than removing bookkeeping: whatever else lands in an item is not
    # published by accident.
    return {name: item[name] for name in PUBLIC_FIELDS if name in item}


def encode_cursor(start_key: Mapping[str, Any]) -> str:
    document = json.dumps({"after": str(start_key[ID_FIELD])}, separators=(",", ":"))
    return base64.urlsafe_b64encode(document.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The ExclusiveStartKey a cursor stands for; raises `InvalidCursor`."""
    if not cursor or len(cursor) > _MAX_CURSOR_LENGTH:
        raise InvalidCursor("cursor has an invalid length")
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        document = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidCursor("cursor is not one this service issued") from None
    after = document.get("after") if isinstance(document, dict) and len(document) == 1 else None
    purchase_id = parse_purchase_id(after) if isinstance(after, str) else None
    if purchase_id is None:
        raise InvalidCursor("cursor is not one this service issued")
    return {ID_FIELD: purchase_id}
