"""`PurchaseStore` on a DynamoDB table, through boto3's resource layer (it converts types; numbers
come and go as Decimal, never float).

Item = the purchase's public fields + bookkeeping: `Version` (stamp of the write that produced the
item), `Deleted` (tombstone flag), `ExpiresAt` (TTL epoch seconds, tombstones only), `ClientId` (the owner: the
OAuth client that created the purchase, kept by every later write and by the tombstone; absent on items stored
before owners were kept until `invoke backfill-owners` sets it), `PurchaseDigest` (live purchases only:
`Purchase.digest()`, what the sender compares a replayed create with), and two sparse index keys carried by live
purchases only: `Listed` (the constant partition of the `LivePurchases` index, every owner's purchases: the
administrators' list) and `ListedFor` (the owner: the partition of the `PurchasesByOwner` index, one caller's list).

Listing reads one of those indexes, one Query of at most `limit` items per page: a tombstone has neither key, so
it is in no index, and a page costs the same however many tombstones the table holds (deleted purchases stay as
tombstones for 30 days, and anyone can make thousands through the API). A caller's page reads its own partition
of `PurchasesByOwner`, so it costs the same however many purchases other callers hold.
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
from purchases.ports import InvalidCursor, Page, RecordHead, RecordState, StoredPurchase, WriteOutcome
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
DIGEST: Final = "PurchaseDigest"
# The sparse index of live purchases (its name and keys are the template's LivePurchases index): every live
# item carries LISTED = LIVE_PARTITION, sorted by id within that one partition. One partition caps the
# index at DynamoDB's per-partition write rate (about 1,000 writes/s); past that, shard the value.
LIVE_INDEX: Final = "LivePurchases"
LISTED: Final = "Listed"
LIVE_PARTITION: Final = "live"
# The sparse index of each owner's live purchases (the template's PurchasesByOwner index): partitioned by owner,
# sorted by id. Not keyed on ClientId itself, which tombstones keep: the index would then hold them.
OWNER_INDEX: Final = "PurchasesByOwner"
LISTED_FOR: Final = "ListedFor"
# What the sender's existence check reads (the template's IAM condition allows exactly these attributes).
HEAD_ATTRIBUTE_NAMES: Final = {"#id": ID_FIELD, "#deleted": DELETED, "#owner": CLIENT_ID, "#digest": DIGEST}
# Long enough that no delayed or redriven message (SQS keeps them 14 days at most) can arrive
# after its tombstone is gone and bring a deleted purchase back.
TOMBSTONE_LIFETIME_SECONDS: Final = 30 * 24 * 60 * 60
_NANOSECONDS: Final = 1_000_000_000
_MAX_CURSOR_LENGTH: Final = 256

# The rules of `purchases.ordering`, keyed by WriteAction value; OWNED is filled in per message (its owner).
_OWNED: Final = "{owned}"
_CONDITIONS: Final[Mapping[str, str]] = {
    "create": "attribute_not_exists(#id)",
    "update": f"attribute_not_exists(#id) OR (#version < :stamp AND attribute_not_exists(#deleted) AND {_OWNED})",
    "delete": f"attribute_not_exists(#id) OR (attribute_not_exists(#deleted) AND {_OWNED})",
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

    def head(self, purchase_id: str) -> RecordHead:
        # Key, tombstone flag, owner and digest only (the template's IAM condition lists exactly these): an
        # existence check has no business reading personal data.
        item = (
            self._table()
            .get_item(
                Key={ID_FIELD: purchase_id},
                ProjectionExpression="#id, #deleted, #owner, #digest",
                ExpressionAttributeNames=HEAD_ATTRIBUTE_NAMES,
            )
            .get("Item")
        )
        if item is None:
            return RecordHead(RecordState.ABSENT)
        owner = item.get(CLIENT_ID)
        digest = item.get(DIGEST)
        return RecordHead(
            state=RecordState.DELETED if item.get(DELETED) else RecordState.LIVE,
            owner=owner if isinstance(owner, str) else None,
            digest=digest if isinstance(digest, str) else None,
        )

    def page(self, limit: int, cursor: str | None) -> Page:
        return self._query_page(LIVE_INDEX, LISTED, LIVE_PARTITION, limit, cursor)

    def owned_page(self, owner: str, limit: int, cursor: str | None) -> Page:
        return self._query_page(OWNER_INDEX, LISTED_FOR, owner, limit, cursor)

    def _query_page(
        self, index: str, partition_key: str, partition: str, limit: int, cursor: str | None
    ) -> Page:
        # One Query, whatever the cursor: bounded work per request. A page may hold fewer than `limit`
        # items (DynamoDB stops a page at 1 MB) and still have a next cursor; following the cursors
        # reaches every purchase of the partition once, in id order. The cursor holds only the last id: the
        # partition always comes from the caller, so no cursor can lead into another owner's purchases.
        condition = Key(partition_key).eq(partition)
        if cursor is None:
            response = self._table().query(IndexName=index, KeyConditionExpression=condition, Limit=limit)
        else:
            start_key = {**decode_cursor(cursor), partition_key: partition}
            response = self._table().query(
                IndexName=index,
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
        condition, names, values = write_condition(message)
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


def write_condition(message: WriteMessage) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The condition expression (with its names and values) under which `message` may replace the item."""
    condition = _CONDITIONS[message.action]
    names = {"#id": ID_FIELD}
    values: dict[str, Any] = {}
    if ":stamp" in condition:
        names.update({"#version": VERSION, "#deleted": DELETED})
        values[":stamp"] = message.stamp
    elif "#deleted" in condition:
        names["#deleted"] = DELETED
    if _OWNED in condition:
        names["#owner"] = CLIENT_ID
        if message.owner is None:
            owned = "attribute_not_exists(#owner)"
        else:
            owned = "#owner = :owner"
            values[":owner"] = message.owner
        condition = condition.replace(_OWNED, owned)
    return condition, names, values


def item_for(message: WriteMessage) -> dict[str, Any]:
    """The item `message` puts in the table."""
    owner = {CLIENT_ID: message.owner} if message.owner is not None else {}
    if message.purchase is None:
        return {
            ID_FIELD: message.purchase_id,
            DELETED: True,
            VERSION: message.stamp,
            EXPIRES_AT: message.stamp // _NANOSECONDS + TOMBSTONE_LIFETIME_SECONDS,
            **owner,
        }
    listed_for = {LISTED_FOR: message.owner} if message.owner is not None else {}
    return {
        ID_FIELD: message.purchase_id,
        **message.purchase.attributes(),
        VERSION: message.stamp,
        DIGEST: message.purchase.digest(),
        LISTED: LIVE_PARTITION,
        **listed_for,
        **owner,
    }


def _stored_purchase(item: Mapping[str, Any]) -> StoredPurchase:
    deleted = bool(item.get(DELETED, False))
    return StoredPurchase(
        purchase_id=str(item[ID_FIELD]),
        attributes={ID_FIELD: str(item[ID_FIELD])} if deleted else _public_attributes(item),
        version=int(item.get(VERSION, 0)),
        deleted=deleted,
        owner=str(item[CLIENT_ID]) if item.get(CLIENT_ID) else None,
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
