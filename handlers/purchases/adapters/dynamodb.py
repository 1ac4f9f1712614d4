"""`PurchaseStore` on a DynamoDB table, through boto3's resource layer (it converts types; numbers
come and go as Decimal, never float).

Item = the purchase's public fields + bookkeeping: `Version` (stamp of the write that produced the
item), `Deleted` (tombstone flag), `ExpiresAt` (TTL epoch seconds, tombstones only) and `ClientId` (the OAuth
client whose write produced the item; absent for writes queued before callers were authenticated).
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
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from purchases.identifiers import parse_purchase_id
from purchases.model import AttributeValue
from purchases.ports import InvalidCursor, Page, StoredPurchase, WriteOutcome
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


def idempotency_store(table_name: str) -> BasePersistenceLayer:
    """Powertools' DynamoDB persistence layer on the idempotency table (its default layout: key `id`)."""
    return DynamoDBPersistenceLayer(table_name=table_name)


def lazy_table(table_name: str) -> Callable[[], Table]:
    """A factory building the Table resource on first use, then always returning that one."""

    @functools.cache
    def table() -> Table:
        return boto3.resource("dynamodb").Table(table_name)

    return table


class DynamoDbPurchaseStore:
    def __init__(self, table: Callable[[], Table]) -> None:
        self._table = table

    def get(self, purchase_id: str) -> StoredPurchase | None:
        item = self._table().get_item(Key={ID_FIELD: purchase_id}).get("Item")
        return _stored_purchase(item) if item is not None else None

    def page(self, limit: int, cursor: str | None) -> Page:
        start_key = decode_cursor(cursor) if cursor is not None else None
        items: list[Mapping[str, AttributeValue]] = []
        # Limit caps the items a Scan *evaluates*, before the tombstone filter: asking for exactly
        # what is missing means a page never overshoots, so LastEvaluatedKey is always an exact
        # resume point; tombstones only cost extra round trips.
        while True:
            wanted = limit - len(items)
            if start_key is None:
                response = self._table().scan(Limit=wanted, FilterExpression=Attr(DELETED).not_exists())
            else:
                response = self._table().scan(
                    Limit=wanted,
                    FilterExpression=Attr(DELETED).not_exists(),
                    ExclusiveStartKey=start_key,
                )
            items.extend(_public_attributes(item) for item in response.get("Items", []))
            last_key = response.get("LastEvaluatedKey")
            start_key = dict(last_key) if last_key else None
            if start_key is None or len(items) >= limit:
                break
        return Page(items=items, next_cursor=encode_cursor(start_key) if start_key is not None else None)

    def apply_write(self, message: WriteMessage) -> WriteOutcome:
        condition, names = _CONDITIONS[message.action]
        values: dict[str, Any] = {":stamp": message.stamp} if ":stamp" in condition else {}
        try:
            if values:
                self._table().put_item(
                    Item=_item(message),
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            else:
                self._table().put_item(
                    Item=_item(message), ConditionExpression=condition, ExpressionAttributeNames=names
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return WriteOutcome.SUPERSEDED
            raise
        return WriteOutcome.APPLIED


def _item(message: WriteMessage) -> dict[str, Any]:
    caller = {CLIENT_ID: message.client_id} if message.client_id is not None else {}
    if message.purchase is None:
        return {
            ID_FIELD: message.purchase_id,
            DELETED: True,
            VERSION: message.stamp,
            EXPIRES_AT: message.stamp // _NANOSECONDS + TOMBSTONE_LIFETIME_SECONDS,
            **caller,
        }
    return {ID_FIELD: message.purchase_id, **message.purchase.attributes(), VERSION: message.stamp, **caller}


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
