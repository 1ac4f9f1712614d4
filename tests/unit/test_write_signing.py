"""The writer applies only what the sender queued: the sender MACs every body it queues, the writer verifies the MAC
before it reads the body, and refuses (counts, reports failed, never applies) anything else."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from conftest import WRITE_SIGNING, InMemoryMessageAuthenticator, record_attributes

import writer
from purchases.adapters.dynamodb import DynamoDbPurchaseStore
from purchases.adapters.sqs import SqsWriteQueue
from purchases.messages import WriteAction, WriteMessage, encode_message
from purchases.rules import parse_purchase
from purchases.signing import MAC_ATTRIBUTE, UnverifiedMessage, mac_attribute, record_mac

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sqs.client import SQSClient

VICTIM = "victimclient000000000000001"
ATTACKER = "attackerclient00000000000001"
PURCHASE_ID = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.fixture(autouse=True)
def wired_writer(dynamodb_store: DynamoDbPurchaseStore) -> Iterator[None]:
    writer.store.override(dynamodb_store)
    yield
    writer.store.override(None)


@pytest.fixture
def deliver(
    sqs_event: Callable[..., dict[str, Any]], lambda_context: LambdaContext
) -> Callable[..., list[str]]:
    """Delivers one batch of (messageId, body[, messageAttributes]) records; returns the failed message ids."""

    def call(*records: tuple[str, str] | tuple[str, str, dict[str, Any]]) -> list[str]:
        result = writer.lambda_handler(sqs_event(*records), lambda_context)
        return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]

    return call


def message(action: WriteAction, stamp: int, owner: str, document: dict[str, Any] | None) -> str:
    purchase = parse_purchase(document) if document is not None else None
    return encode_message(
        WriteMessage(action, PURCHASE_ID, purchase, stamp, f"request-{stamp}", owner, owner)
    )


def stored(table: Table) -> dict[str, Any] | None:
    item = table.get_item(Key={"ProductPurchaseId": PURCHASE_ID}, ConsistentRead=True).get("Item")
    return dict(item) if item is not None else None


def emitted_metrics(output: str) -> list[str]:
    records = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    return [
        metric["Name"] for record in records for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    ]


def test_a_signed_message_is_applied(
    deliver: Callable[..., list[str]], dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    # Given a create signed with the write-signing key, as the sender queues it
    body = message(WriteAction.CREATE, 100, VICTIM, purchase_document)

    # When it is delivered
    failed = deliver(("sqs-1", body, record_attributes(WRITE_SIGNING.sign(body))))

    # Then it is applied
    assert failed == []
    item = stored(dynamodb_table)
    assert item is not None and item["ClientId"] == VICTIM


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param(lambda body: {}, id="unsigned"),
        pytest.param(
            lambda body: record_attributes(InMemoryMessageAuthenticator(b"another secret").sign(body)),
            id="forged with another key",
        ),
        pytest.param(
            # the sender's MAC of the attacker's own write, whose owner was then rewritten to the victim
            lambda body: record_attributes(WRITE_SIGNING.sign(body.replace(VICTIM, ATTACKER))),
            id="a valid MAC of another body",
        ),
        pytest.param(
            lambda body: {MAC_ATTRIBUTE: {"stringValue": "not base64!", "dataType": "String"}},
            id="garbled MAC",
        ),
        pytest.param(
            lambda body: {
                MAC_ATTRIBUTE: {"stringValue": base64.b64encode(b"short").decode(), "dataType": "String"}
            },
            id="MAC of the wrong length",
        ),
    ],
)
def test_a_forged_message_naming_a_victim_as_owner_is_never_applied(
    deliver: Callable[..., list[str]],
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    attributes: Callable[[str], dict[str, Any]],
) -> None:
    # Given the victim's purchase, applied from the sender's signed create
    original = message(WriteAction.CREATE, 100, VICTIM, purchase_document)
    assert deliver(("sqs-1", original, record_attributes(WRITE_SIGNING.sign(original)))) == []
    capsys.readouterr()
    # And an update of it that the sender never queued: it names the victim as owner, and is unsigned, signed with
    # another key, or carries the sender's MAC of a different body
    forged = message(WriteAction.UPDATE, 200, VICTIM, {**purchase_document, "ProductName": "Forged"})

    # When it is delivered
    failed = deliver(("sqs-2", forged, attributes(forged)))

    # Then it is reported failed (so the queue dead-letters it after its receives) and the purchase is unchanged
    assert failed == ["sqs-2"]
    item = stored(dynamodb_table)
    assert item is not None and item["ProductName"] != "Forged" and item["Version"] == 100
    # And it is counted as unverified (the UnverifiedWriteAlarm's metric) and as a failed write
    assert emitted_metrics(capsys.readouterr().out) == ["PurchaseWriteUnverified", "PurchaseWriteFailed"]


def test_a_tampered_body_fails_alone_in_its_batch(
    deliver: Callable[..., list[str]], dynamodb_table: Table, purchase_document: dict[str, Any]
) -> None:
    # Given a signed create whose body was changed after signing (the owner rewritten), and a good one
    good = message(WriteAction.CREATE, 100, VICTIM, purchase_document)
    signed = message(WriteAction.DELETE, 300, ATTACKER, None)
    tampered = signed.replace(ATTACKER, VICTIM)

    # When both arrive in one batch
    failed = deliver(
        ("sqs-1", tampered, record_attributes(WRITE_SIGNING.sign(signed))),
        ("sqs-2", good, record_attributes(WRITE_SIGNING.sign(good))),
    )

    # Then only the tampered one fails, and the good one is applied
    assert failed == ["sqs-1"]
    item = stored(dynamodb_table)
    assert item is not None and not item.get("Deleted")


def test_the_mac_is_checked_before_the_body_is_read(
    deliver: Callable[..., list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an unsigned body that is not even JSON
    # When it is delivered
    failed = deliver(("sqs-1", "{not json", {}))
    # Then it is refused as unverified, not as malformed: nothing of an unverified body is parsed
    assert failed == ["sqs-1"]
    assert emitted_metrics(capsys.readouterr().out) == ["PurchaseWriteUnverified", "PurchaseWriteFailed"]


class FailingVerifier:
    def verify(self, body: str, mac: bytes) -> bool:
        raise ConnectionError("KMS did not answer")


def test_a_verification_that_could_not_be_made_is_retried_not_counted_as_forged(
    deliver: Callable[..., list[str]],
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given KMS failing to answer
    writer.verifier.override(FailingVerifier())
    body = message(WriteAction.CREATE, 100, VICTIM, purchase_document)

    # When a signed message is delivered
    failed = deliver(("sqs-1", body, record_attributes(WRITE_SIGNING.sign(body))))

    # Then it fails (the queue delivers it again) without being applied, and is not counted as unverified
    assert failed == ["sqs-1"]
    assert stored(dynamodb_table) is None
    assert emitted_metrics(capsys.readouterr().out) == ["PurchaseWriteFailed"]


def test_the_sender_queues_each_body_with_its_mac_and_the_writer_applies_it(
    sqs_client: SQSClient,
    deliver: Callable[..., list[str]],
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
) -> None:
    # Given the sender's queue adapter signing with the write-signing key
    queue_url = sqs_client.create_queue(QueueName="unit-test-signed-writes")["QueueUrl"]
    queue = SqsWriteQueue(queue_url, lambda: sqs_client, WRITE_SIGNING)
    write = WriteMessage(
        WriteAction.CREATE, PURCHASE_ID, parse_purchase(purchase_document), 100, "request-1", VICTIM, VICTIM
    )

    # When it queues a write
    queue.enqueue_write(write)

    # Then the message carries the MAC of its body
    (received,) = sqs_client.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    attributes = {
        name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
        for name, value in received["MessageAttributes"].items()
    }
    assert WRITE_SIGNING.verify(received["Body"], record_mac(attributes))
    # And the writer, handed that record, applies it
    assert deliver(("sqs-1", received["Body"], attributes)) == []
    assert stored(dynamodb_table) is not None


class RefusingSigner:
    def sign(self, body: str) -> bytes:
        raise PermissionError("kms:GenerateMac denied")


def test_a_message_the_sender_cannot_sign_is_not_queued(
    sqs_client: SQSClient, purchase_document: dict[str, Any]
) -> None:
    # Given a sender whose signing fails
    queue_url = sqs_client.create_queue(QueueName="unit-test-unsigned-writes")["QueueUrl"]
    queue = SqsWriteQueue(queue_url, lambda: sqs_client, RefusingSigner())
    write = WriteMessage(
        WriteAction.CREATE, PURCHASE_ID, parse_purchase(purchase_document), 100, "request-1", VICTIM, VICTIM
    )

    # When it tries to queue a write, then the failure reaches the caller (a 500, never a 202)
    with pytest.raises(PermissionError):
        queue.enqueue_write(write)
    # And nothing unsigned was queued
    assert "Messages" not in sqs_client.receive_message(QueueUrl=queue_url)


def test_the_mac_attribute_is_what_the_writer_reads() -> None:
    # Given a MAC put in SendMessage's attribute form, read back in the Lambda event's form
    mac = bytes(range(32))
    sent = mac_attribute(mac)[MAC_ATTRIBUTE]
    # Then the writer reads the same MAC
    assert (
        record_mac({MAC_ATTRIBUTE: {"stringValue": sent["StringValue"], "dataType": sent["DataType"]}}) == mac
    )
    # And a record without one is unverified
    with pytest.raises(UnverifiedMessage):
        record_mac(None)
