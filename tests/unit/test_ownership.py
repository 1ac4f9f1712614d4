"""Ownership: each caller sees and changes only its own purchases; the admin scope sees and changes all.

The rules (`purchases.ownership`), the sender's checks (`PurchaseCommands`), the writer's conditions (the DynamoDB
adapter on moto), and both API functions through their entry points.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext
from conftest import CLIENT_ID as REQUEST_CLIENT
from conftest import RecordingWriteQueue

import reader
import sender
from purchases.adapters.dynamodb import CLIENT_ID, LISTED_FOR, OWNER_INDEX, DynamoDbPurchaseStore
from purchases.commands import IdempotencyKeyReused, PurchaseCommands, PurchaseNotFound
from purchases.identifiers import purchase_id_for_idempotency_key
from purchases.messages import MalformedMessage, WriteAction, WriteMessage, decode_message
from purchases.ownership import ADMIN_SCOPE, Caller, may_access
from purchases.ports import PurchaseStore, WriteOutcome
from purchases.rules import parse_purchase

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

OWNER = "client-a"
OTHER = "client-b"
ADMIN = Caller("operator", admin=True)
ADMIN_SCOPES = f"purchases/read purchases/write {ADMIN_SCOPE}"


def purchase_id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def created(number: int, document: dict[str, Any], owner: str | None = OWNER, stamp: int = 1) -> WriteMessage:
    return WriteMessage(
        WriteAction.CREATE, purchase_id(number), parse_purchase(document), stamp, "r", owner, owner
    )


# --- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "owner", "allowed"),
    [
        (Caller(OWNER), OWNER, True),
        (Caller(OTHER), OWNER, False),
        (Caller(OWNER), None, False),
        (ADMIN, OWNER, True),
        (ADMIN, None, True),
    ],
)
def test_only_the_owner_or_an_administrator_may_access_a_purchase(
    caller: Caller, owner: str | None, allowed: bool
) -> None:
    assert may_access(caller, owner) is allowed


def test_the_admin_scope_makes_an_administrator_and_nothing_else_does() -> None:
    assert Caller.from_claims(OWNER, ["purchases/read", ADMIN_SCOPE]).admin is True
    assert Caller.from_claims(OWNER, ["purchases/read", "purchases/write"]).admin is False
    assert Caller.from_claims(OWNER, ["admin", "purchases/admins"]).admin is False


def test_a_message_without_an_owner_belongs_to_its_caller() -> None:
    # Given a message queued before owners were carried (clientId only)
    body = json.dumps(
        {"action": "delete", "id": purchase_id(1), "purchase": None, "stamp": 5, "correlationId": "r"}
        | {"clientId": OWNER}
    )

    # Then it changes only the caller's own purchases
    assert decode_message(body).owner == OWNER


@pytest.mark.parametrize("owner", ["", 7, "x" * 129, ["client-a"]])
def test_a_message_with_a_malformed_owner_is_refused(owner: object) -> None:
    body = json.dumps(
        {"action": "delete", "id": purchase_id(1), "purchase": None, "stamp": 5, "correlationId": "r"}
        | {"clientId": OWNER, "owner": owner}
    )
    with pytest.raises(MalformedMessage, match="owner"):
        decode_message(body)


# --- the sender's checks (in-memory store) -------------------------------------------------------


def test_a_create_is_owned_by_its_caller(
    commands: PurchaseCommands, enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    commands.create(parse_purchase(purchase_document), "r", Caller(OWNER))
    assert [(message.client_id, message.owner) for message in enqueued] == [(OWNER, OWNER)]


@pytest.mark.parametrize("action", ["replace", "delete"])
def test_another_callers_change_is_not_found_and_queues_nothing(
    commands: PurchaseCommands,
    store: PurchaseStore,
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
    action: str,
) -> None:
    # Given client-a's purchase
    store.apply_write(created(1, purchase_document))

    # When client-b replaces or deletes it, then it is told the purchase does not exist, and nothing is queued
    with pytest.raises(PurchaseNotFound):
        if action == "replace":
            commands.replace(purchase_id(1), parse_purchase(purchase_document), "r", Caller(OTHER))
        else:
            commands.delete(purchase_id(1), "r", Caller(OTHER))
    assert enqueued == []


def test_an_administrators_change_keeps_the_owner(
    commands: PurchaseCommands,
    store: PurchaseStore,
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
) -> None:
    # Given client-a's purchase
    store.apply_write(created(1, purchase_document))

    # When an administrator replaces it, then deletes it
    commands.replace(purchase_id(1), parse_purchase(purchase_document), "r", ADMIN)
    commands.delete(purchase_id(1), "r", ADMIN)

    # Then both messages name the administrator as caller and client-a as owner
    assert [(message.client_id, message.owner) for message in enqueued] == [(ADMIN.client_id, OWNER)] * 2
    for message in enqueued:
        assert store.apply_write(message) is WriteOutcome.APPLIED
    record = store.get(purchase_id(1))
    assert record is not None and record.deleted and record.owner == OWNER


def test_a_purchase_without_owner_is_changed_by_administrators_only(
    commands: PurchaseCommands,
    store: PurchaseStore,
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
) -> None:
    # Given a purchase stored before owners were kept
    store.apply_write(created(1, purchase_document, owner=None))

    # Then its former writer cannot change it, an administrator can, and it stays ownerless
    with pytest.raises(PurchaseNotFound):
        commands.delete(purchase_id(1), "r", Caller(OWNER))
    commands.delete(purchase_id(1), "r", ADMIN)
    assert enqueued[0].owner is None
    assert store.apply_write(enqueued[0]) is WriteOutcome.APPLIED


# --- a reused Idempotency-Key whose record is gone -------------------------------------------------


def test_a_late_retry_of_the_same_purchase_is_answered_again_without_queueing(
    commands: PurchaseCommands,
    store: PurchaseStore,
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
) -> None:
    # Given a keyed create that was applied (its idempotency record has since expired)
    purchase = parse_purchase(purchase_document)
    first = commands.create(purchase, "r", Caller(OWNER), "order-1")
    store.apply_write(enqueued[0])

    # When the same purchase is sent again with the same key
    again = commands.create(parse_purchase(purchase_document), "r2", Caller(OWNER), "order-1")

    # Then it gets the same id and nothing more is queued
    assert again.purchase_id == first.purchase_id
    assert again.message_id is None
    assert len(enqueued) == 1


@pytest.mark.parametrize("later", ["different purchase", "deleted purchase"])
def test_a_reused_key_for_a_different_or_deleted_purchase_is_refused(
    commands: PurchaseCommands,
    store: PurchaseStore,
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
    later: str,
) -> None:
    # Given a keyed create that was applied (and, in one case, deleted), its record expired
    commands.create(parse_purchase(purchase_document), "r", Caller(OWNER), "order-2")
    store.apply_write(enqueued[0])
    if later == "deleted purchase":
        commands.delete(enqueued[0].purchase_id, "r", Caller(OWNER))
        store.apply_write(enqueued[1])
    else:
        purchase_document["CustomerName"] = "Someone Else"
    sent = len(enqueued)

    # When the key is used again, then it is refused and nothing is queued
    with pytest.raises(IdempotencyKeyReused):
        commands.create(parse_purchase(purchase_document), "r2", Caller(OWNER), "order-2")
    assert len(enqueued) == sent


# --- the writer's conditions (DynamoDB adapter on moto) --------------------------------------------


@pytest.mark.parametrize("action", [WriteAction.UPDATE, WriteAction.DELETE])
def test_the_table_refuses_a_write_for_another_owner(
    dynamodb_store: DynamoDbPurchaseStore,
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    action: WriteAction,
) -> None:
    # Given client-a's purchase
    dynamodb_store.apply_write(created(1, purchase_document))
    before = dynamodb_table.get_item(Key={"ProductPurchaseId": purchase_id(1)})["Item"]

    # When a newer write claiming client-b as owner arrives (whatever the sender checked)
    purchase = parse_purchase(purchase_document) if action is WriteAction.UPDATE else None
    forged = WriteMessage(action, purchase_id(1), purchase, 9, "r", OTHER, OTHER)

    # Then the condition refuses it and the item is untouched
    assert dynamodb_store.apply_write(forged) is WriteOutcome.SUPERSEDED
    assert dynamodb_table.get_item(Key={"ProductPurchaseId": purchase_id(1)})["Item"] == before


def test_the_table_refuses_an_owned_write_to_a_purchase_without_owner(
    dynamodb_store: DynamoDbPurchaseStore, purchase_document: dict[str, Any]
) -> None:
    dynamodb_store.apply_write(created(1, purchase_document, owner=None))
    claimed = WriteMessage(WriteAction.DELETE, purchase_id(1), None, 9, "r", OWNER, OWNER)
    assert dynamodb_store.apply_write(claimed) is WriteOutcome.SUPERSEDED
    unowned = WriteMessage(WriteAction.DELETE, purchase_id(1), None, 9, "r", ADMIN.client_id, None)
    assert dynamodb_store.apply_write(unowned) is WriteOutcome.APPLIED


def test_each_owner_pages_through_its_own_purchases_only(
    dynamodb_store: DynamoDbPurchaseStore,
    dynamodb_table: Table,
    purchase_document: dict[str, Any],
    calls: list[tuple[str, dict[str, Any]]],
) -> None:
    # Given 5 purchases of client-a (one deleted) among 6 of client-b
    for number in range(11):
        dynamodb_store.apply_write(created(number, purchase_document, OWNER if number % 2 else OTHER))
    dynamodb_store.apply_write(WriteMessage(WriteAction.DELETE, purchase_id(1), None, 2, "r", OWNER, OWNER))
    calls.clear()

    # When client-a pages through its list 2 at a time
    ids: list[str] = []
    cursor = None
    while True:
        page = dynamodb_store.owned_page(OWNER, 2, cursor)
        ids += [str(item["ProductPurchaseId"]) for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    # Then it sees exactly its 4 live purchases, each page one Query of at most 2 items of its own partition
    assert ids == [purchase_id(number) for number in (3, 5, 7, 9)]
    assert calls and all(
        operation == "Query" and params["IndexName"] == OWNER_INDEX and params["Limit"] == 2
        for operation, params in calls
    )
    # And the tombstone keeps its owner but leaves the owner's index; the every-owner list has all 10 live
    tombstone = dynamodb_table.get_item(Key={"ProductPurchaseId": purchase_id(1)})["Item"]
    assert tombstone[CLIENT_ID] == OWNER and LISTED_FOR not in tombstone
    assert len(dynamodb_store.page(100, None).items) == 10


# --- through the API functions ---------------------------------------------------------------------


@pytest.fixture
def api_with_table(
    dynamodb_store: DynamoDbPurchaseStore, enqueued: list[WriteMessage], mocked_aws: None
) -> Iterator[DynamoDbPurchaseStore]:
    """The sender (with an idempotency table) and the reader, both on one moto purchase table."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    name = "unit-test-ownership-idempotency"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sender.commands.override(PurchaseCommands(store=dynamodb_store, queue=RecordingWriteQueue(enqueued)))
    sender.idempotency_records.override(DynamoDBPersistenceLayer(table_name=name, boto3_client=client))
    reader.store.override(dynamodb_store)
    yield dynamodb_store
    sender.commands.override(None)
    sender.idempotency_records.override(None)
    reader.store.override(None)
    client.delete_table(TableName=name)


Call = Callable[..., dict[str, Any]]


@pytest.fixture
def call(api_event: Callable[..., dict[str, Any]], lambda_context: LambdaContext) -> Call:
    def invoke(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        function = reader if method == "GET" else sender
        response: dict[str, Any] = function.lambda_handler(api_event(method, path, **kwargs), lambda_context)
        return response

    return invoke


NOT_FOUND = {"message": "Purchase not found", "errors": []}


def test_another_caller_gets_404_for_every_method_and_changes_nothing(
    api_with_table: DynamoDbPurchaseStore,
    call: Call,
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
) -> None:
    # Given a purchase of client-a
    api_with_table.apply_write(created(1, purchase_document))
    path = f"/product-purchase/{purchase_id(1)}"
    body = json.dumps(purchase_document)

    # When client-b reads, replaces and deletes it, and an unknown id is read for comparison
    answers = [
        call("GET", path, client_id=OTHER),
        call("PUT", path, body=body, client_id=OTHER),
        call("DELETE", path, client_id=OTHER),
    ]
    unknown = call("GET", f"/product-purchase/{purchase_id(99)}", client_id=OTHER)

    # Then each is the very answer of a missing purchase, and nothing is queued
    assert [(answer["statusCode"], json.loads(answer["body"])) for answer in answers] == [
        (404, NOT_FOUND)
    ] * 3
    assert (unknown["statusCode"], json.loads(unknown["body"])) == (404, NOT_FOUND)
    assert enqueued == []


def test_lists_hold_the_callers_own_purchases_and_administrators_see_all(
    api_with_table: DynamoDbPurchaseStore, call: Call, purchase_document: dict[str, Any]
) -> None:
    # Given one purchase of client-a and one of client-b
    api_with_table.apply_write(created(1, purchase_document, OWNER))
    api_with_table.apply_write(created(2, purchase_document, OTHER))

    def listed(**kwargs: Any) -> list[str]:
        response = call("GET", "/product-purchase", **kwargs)
        assert response["statusCode"] == 200
        return [item["ProductPurchaseId"] for item in json.loads(response["body"])]

    # Then each lists only its own; an administrator lists both and reads either
    assert listed(client_id=OWNER) == [purchase_id(1)]
    assert listed(client_id=OTHER) == [purchase_id(2)]
    assert listed(client_id="operator", scopes=ADMIN_SCOPES) == [purchase_id(1), purchase_id(2)]
    read = call("GET", f"/product-purchase/{purchase_id(2)}", client_id="operator", scopes=ADMIN_SCOPES)
    assert read["statusCode"] == 200


def test_an_administrators_update_is_queued_for_the_original_owner(
    api_with_table: DynamoDbPurchaseStore,
    call: Call,
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
) -> None:
    api_with_table.apply_write(created(1, purchase_document, OWNER))
    response = call(
        "PUT",
        f"/product-purchase/{purchase_id(1)}",
        body=json.dumps(purchase_document),
        client_id="operator",
        scopes=ADMIN_SCOPES,
    )
    assert response["statusCode"] == 202
    assert [(message.client_id, message.owner) for message in enqueued] == [("operator", OWNER)]
    assert api_with_table.apply_write(enqueued[0]) is WriteOutcome.APPLIED
    assert api_with_table.head(purchase_id(1)).owner == OWNER


def test_a_reused_key_after_its_record_expired_is_422_in_the_error_shape_and_queues_nothing(
    api_with_table: DynamoDbPurchaseStore,
    call: Call,
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
) -> None:
    # Given the purchase of a keyed create, stored, with no idempotency record left (expired)
    key = "order-expired"
    stored_id = purchase_id_for_idempotency_key(key, REQUEST_CLIENT)
    message = WriteMessage(
        WriteAction.CREATE,
        stored_id,
        parse_purchase(purchase_document),
        1,
        "r",
        REQUEST_CLIENT,
        REQUEST_CLIENT,
    )
    api_with_table.apply_write(message)

    # When the key comes back with another purchase, then with the same one (a refusal leaves no record behind)
    other_document = {**purchase_document, "CustomerName": "Someone Else"}
    other = call(
        "POST", "/product-purchase", body=json.dumps(other_document), headers={"Idempotency-Key": key}
    )
    same = call(
        "POST", "/product-purchase", body=json.dumps(purchase_document), headers={"Idempotency-Key": key}
    )

    # Then the same purchase gets its id again; the other is refused in the API's error shape; nothing is queued
    assert same["statusCode"] == 202
    assert json.loads(same["body"])["ProductPurchaseId"] == stored_id
    assert other["statusCode"] == 422
    assert json.loads(other["body"]) == {"message": sender.KEY_REUSED_MESSAGE, "errors": []}
    assert enqueued == []
