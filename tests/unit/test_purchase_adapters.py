"""The DynamoDB, SQS and KMS adapters against moto."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from purchases.adapters.dynamodb import DynamoDbPurchaseStore, decode_cursor, encode_cursor
from purchases.adapters.kms import KmsMessageAuthenticator
from purchases.adapters.sqs import SqsWriteQueue
from purchases.messages import WriteAction, WriteMessage, decode_message
from purchases.ports import InvalidCursor, WriteOutcome
from purchases.rules import parse_purchase
from purchases.signing import MAC_ATTRIBUTE, record_mac

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_kms.client import KMSClient
    from mypy_boto3_sqs.client import SQSClient


def purchase_id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def write(
    action: WriteAction, number: int, stamp: int, document: dict[str, Any] | None = None
) -> WriteMessage:
    purchase = parse_purchase(document) if document is not None else None
    return WriteMessage(action, purchase_id(number), purchase, stamp, "request")


def test_get_of_missing_item_is_none(dynamodb_store: DynamoDbPurchaseStore) -> None:
    assert dynamodb_store.get(purchase_id(1)) is None


def test_stored_purchase_exposes_public_fields_only(
    dynamodb_store: DynamoDbPurchaseStore, dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    # Given an item that also holds bookkeeping and a stray attribute
    dynamodb_store.apply_write(write(WriteAction.CREATE, 1, 7, purchase_document))
    dynamodb_table.update_item(
        Key={"ProductPurchaseId": purchase_id(1)},
        UpdateExpression="SET Stray = :s",
        ExpressionAttributeValues={":s": "internal"},
    )

    # When it is read
    stored = dynamodb_store.get(purchase_id(1))

    # Then only the id and the purchase's fields are exposed, numbers as Decimal
    assert stored is not None
    assert (stored.version, stored.deleted) == (7, False)
    assert set(stored.attributes) == {"ProductPurchaseId", *purchase_document}
    assert stored.attributes["PricePerUnit"] == Decimal("10")
    assert next(iter(stored.attributes)) == "ProductPurchaseId"


@pytest.mark.parametrize(
    ("first", "second", "outcome"),
    [
        ((WriteAction.CREATE, 1), (WriteAction.CREATE, 2), WriteOutcome.SUPERSEDED),
        ((WriteAction.CREATE, 1), (WriteAction.UPDATE, 2), WriteOutcome.APPLIED),
        ((WriteAction.UPDATE, 2), (WriteAction.UPDATE, 2), WriteOutcome.SUPERSEDED),
        ((WriteAction.UPDATE, 3), (WriteAction.UPDATE, 2), WriteOutcome.SUPERSEDED),
        ((WriteAction.UPDATE, 2), (WriteAction.CREATE, 1), WriteOutcome.SUPERSEDED),
        ((WriteAction.DELETE, 3), (WriteAction.CREATE, 1), WriteOutcome.SUPERSEDED),
        ((WriteAction.DELETE, 3), (WriteAction.UPDATE, 4), WriteOutcome.SUPERSEDED),
        ((WriteAction.DELETE, 3), (WriteAction.DELETE, 3), WriteOutcome.SUPERSEDED),
        ((WriteAction.UPDATE, 9), (WriteAction.DELETE, 3), WriteOutcome.APPLIED),
    ],
)
def test_conditional_writes_follow_the_ordering_rules(
    dynamodb_store: DynamoDbPurchaseStore,
    purchase_document: dict[str, Any],
    first: tuple[WriteAction, int],
    second: tuple[WriteAction, int],
    outcome: WriteOutcome,
) -> None:
    # Given one write applied
    def message(action: WriteAction, stamp: int) -> WriteMessage:
        return write(action, 1, stamp, None if action is WriteAction.DELETE else purchase_document)

    assert dynamodb_store.apply_write(message(*first)) is WriteOutcome.APPLIED

    # When a second arrives, then the table's conditions decide as the rules say
    assert dynamodb_store.apply_write(message(*second)) is outcome


def test_pages_are_full_until_the_last_despite_tombstones(
    dynamodb_store: DynamoDbPurchaseStore, purchase_document: dict[str, Any]
) -> None:
    # Given 20 purchases of which every other one is deleted
    for number in range(20):
        dynamodb_store.apply_write(write(WriteAction.CREATE, number, 1, purchase_document))
        if number % 2:
            dynamodb_store.apply_write(write(WriteAction.DELETE, number, 2))

    # When pages of 3 are read to the end
    pages = []
    cursor = None
    while True:
        page = dynamodb_store.page(3, cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    # Then every page but the last is full (the scan went on past tombstones to fill it), and
    # the live purchases each appear once
    assert all(len(items) == 3 for items in pages[:-1])
    seen = [item["ProductPurchaseId"] for items in pages for item in items]
    assert sorted(seen) == sorted(purchase_id(n) for n in range(0, 20, 2))


def test_cursor_is_opaque_and_round_trips() -> None:
    key = {"ProductPurchaseId": purchase_id(9)}
    cursor = encode_cursor(key)
    assert purchase_id(9) not in cursor
    assert "=" not in cursor
    assert decode_cursor(cursor) == key


@pytest.mark.parametrize("cursor", ["", "%%%", "e30", "A" * 300])
def test_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


@pytest.fixture
def kms_client(mocked_aws: None) -> KMSClient:
    return boto3.client("kms", region_name="us-east-1")


def hmac_key(kms_client: KMSClient) -> KmsMessageAuthenticator:
    """A fresh KMS HMAC key shaped like the template's WriteSigningKey, behind the adapter."""
    key = kms_client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    return KmsMessageAuthenticator(key, lambda: kms_client)


def test_enqueued_message_arrives_intact_and_signed(
    sqs_client: SQSClient, kms_client: KMSClient, purchase_document: dict[str, Any]
) -> None:
    # Given a queue, the write-signing key and a write message
    queue_url = sqs_client.create_queue(QueueName="unit-test-writes")["QueueUrl"]
    key = hmac_key(kms_client)
    message = write(WriteAction.CREATE, 1, 123, purchase_document)

    # When it is enqueued
    message_id = SqsWriteQueue(queue_url, lambda: sqs_client, key).enqueue_write(message)

    # Then the queue holds it under the returned id, decodable back to the same message
    received = sqs_client.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert [entry["MessageId"] for entry in received] == [message_id]
    body = received[0]["Body"]
    assert decode_message(body) == message
    # And it carries the key's MAC of exactly that body, in the attribute the writer reads
    attributes = {
        name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
        for name, value in received[0]["MessageAttributes"].items()
    }
    assert set(attributes) == {MAC_ATTRIBUTE}
    assert key.verify(body, record_mac(attributes))


def test_kms_verification_refuses_a_changed_body_and_another_keys_mac(kms_client: KMSClient) -> None:
    # Given a body signed with the write-signing key
    key, other_key = hmac_key(kms_client), hmac_key(kms_client)
    body = '{"action":"create"}'
    mac = key.sign(body)

    # Then the key verifies it, and nothing else: not a changed body, not another key's MAC of the same body
    assert key.verify(body, mac)
    assert not key.verify(body.replace("create", "delete"), mac)
    assert not key.verify(body, other_key.sign(body))


def test_the_owner_is_kept_by_every_write_and_never_served(
    dynamodb_store: DynamoDbPurchaseStore, dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    # Given a purchase created by "maker", then updated and deleted by an administrator
    created = WriteMessage(
        WriteAction.CREATE, purchase_id(9), parse_purchase(purchase_document), 1, "r", "maker", "maker"
    )
    dynamodb_store.apply_write(created)
    updated = WriteMessage(
        WriteAction.UPDATE,
        purchase_id(9),
        parse_purchase(purchase_document),
        2,
        "r",
        "administrator",
        "maker",
    )
    assert dynamodb_store.apply_write(updated) is WriteOutcome.APPLIED

    # Then the item still names its creator as owner, and a read does not expose it
    item = dynamodb_table.get_item(Key={"ProductPurchaseId": purchase_id(9)})["Item"]
    assert item["ClientId"] == "maker"
    stored = dynamodb_store.get(purchase_id(9))
    assert stored is not None and stored.owner == "maker" and "ClientId" not in stored.attributes
    assert all("ClientId" not in listed for listed in dynamodb_store.page(100, None).items)

    # And the tombstone keeps the owner too
    dynamodb_store.apply_write(
        WriteMessage(WriteAction.DELETE, purchase_id(9), None, 3, "r", "administrator", "maker")
    )
    tombstone = dynamodb_table.get_item(Key={"ProductPurchaseId": purchase_id(9)})["Item"]
    assert tombstone["ClientId"] == "maker"
