"""The sender (POST, PUT, DELETE) through its Lambda entry point, with in-memory ports."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

import sender
from purchases.api import MAX_BODY_BYTES
from purchases.commands import PurchaseCommands
from purchases.idempotency import KEY_PREFIX, idempotent_request
from purchases.identifiers import purchase_id_for_idempotency_key
from purchases.messages import WriteAction, WriteMessage
from purchases.ports import PurchaseStore
from purchases.rules import parse_purchase

ApiEvent = Callable[..., dict[str, Any]]
EXISTING_ID = "0b8f5a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
UNKNOWN_ID = "9e8d7c6b-5a49-4837-a625-140f0e0d0c0b"
CLIENT_ID = "unittestclient0000000000001"  # the caller conftest's api_event puts in the authorizer claims


@pytest.fixture
def idempotency_records(mocked_aws: None) -> Iterator[DynamoDBPersistenceLayer]:
    """Powertools' DynamoDB persistence layer on a moto table shaped like the template's IdempotencyTable."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    name = f"unit-test-idempotency-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield DynamoDBPersistenceLayer(table_name=name, boto3_client=client)
    client.delete_table(TableName=name)


@pytest.fixture(autouse=True)
def wired_sender(commands: PurchaseCommands, idempotency_records: DynamoDBPersistenceLayer) -> Iterator[None]:
    sender.commands.override(commands)
    sender.idempotency_records.override(idempotency_records)
    yield
    sender.commands.override(None)
    sender.idempotency_records.override(None)


@pytest.fixture
def send(api_event: ApiEvent, lambda_context: LambdaContext) -> Callable[..., dict[str, Any]]:
    def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = sender.lambda_handler(api_event(method, path, **kwargs), lambda_context)
        return response

    return call


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def header(response: dict[str, Any], name: str) -> str | None:
    for key, values in response.get("multiValueHeaders", {}).items():
        if key.lower() == name.lower():
            return ", ".join(values)
    return None


def seed(
    store: PurchaseStore,
    purchase_document: dict[str, Any],
    purchase_id: str,
    stamp: int = 1,
    owner: str = CLIENT_ID,
) -> None:
    """Stores a purchase, by default owned by the client the test requests come from."""
    store.apply_write(
        WriteMessage(
            WriteAction.CREATE, purchase_id, parse_purchase(purchase_document), stamp, "seed", owner, owner
        )
    )


def delete_in_store(store: PurchaseStore, purchase_id: str, stamp: int = 2, owner: str = CLIENT_ID) -> None:
    store.apply_write(WriteMessage(WriteAction.DELETE, purchase_id, None, stamp, "seed", owner, owner))


# --- POST -----------------------------------------------------------------------------------


def test_post_queues_a_create_and_answers_202_with_the_new_id(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    # Given a valid purchase
    # When it is posted
    response = send("POST", "/product-purchase", body=json.dumps(purchase_document), request_id="req-42")

    # Then the reply is 202 with the queue's message id and the purchase's id
    assert response["statusCode"] == 202
    body = body_of(response)
    assert body == {
        "message": "Message sent successfully",
        "messageId": "message-1",
        "ProductPurchaseId": body["ProductPurchaseId"],
    }
    assert header(response, "Location") == f"product-purchase/{body['ProductPurchaseId']}"
    # And exactly one create for that id is queued, stamped and correlated with the request
    assert len(enqueued) == 1
    queued = enqueued[0]
    assert (queued.action, queued.purchase_id, queued.correlation_id) == (
        WriteAction.CREATE,
        body["ProductPurchaseId"],
        "req-42",
    )
    assert queued.stamp > 0
    assert queued.purchase == parse_purchase(purchase_document)


def test_post_normalizes_numeric_strings(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    # Given numbers as strings and no TotalPrice
    purchase_document.update({"PricePerUnit": "1032.50", "Quantity": "3"})
    del purchase_document["TotalPrice"]

    # When it is posted
    response = send("POST", "/product-purchase", body=json.dumps(purchase_document))

    # Then the queued purchase has canonical numbers and a derived total
    assert response["statusCode"] == 202
    wire = enqueued[0].purchase.to_wire() if enqueued[0].purchase else {}
    assert (wire["PricePerUnit"], wire["Quantity"], wire["TotalPrice"]) == ("1032.5", "3", "3097.5")


def test_each_post_gets_its_own_id(
    send: Callable[..., dict[str, Any]], purchase_document: dict[str, Any]
) -> None:
    first = body_of(send("POST", "/product-purchase", body=json.dumps(purchase_document)))
    second = body_of(send("POST", "/product-purchase", body=json.dumps(purchase_document)))
    assert first["ProductPurchaseId"] != second["ProductPurchaseId"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"Colour": "red"}, "Colour", id="unknown field"),
        pytest.param({"ProductPurchaseId": EXISTING_ID}, "ProductPurchaseId", id="client id"),
        pytest.param({"ProductName": ""}, "ProductName", id="empty string"),
        pytest.param({"TotalPrice": "11"}, "TotalPrice", id="wrong total"),
        pytest.param({"Quantity": 1.5}, "Quantity", id="quantity 1.5"),
        pytest.param({"Quantity": 0}, "Quantity", id="quantity 0"),
        pytest.param({"PricePerUnit": 0}, "PricePerUnit", id="price 0"),
        pytest.param({"PricePerUnit": -1}, "PricePerUnit", id="negative price"),
        pytest.param({"TimeOfPurchase": "2021-13-01T00:00:00Z"}, "TimeOfPurchase", id="bad date"),
        pytest.param({"Quantity": True}, "Quantity", id="boolean as number"),
    ],
)
def test_post_rejects_invalid_purchase_and_queues_nothing(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    # Given a body with one invalid field
    purchase_document.update(change)

    # When it is posted
    response = send("POST", "/product-purchase", body=json.dumps(purchase_document))

    # Then it is refused with 400 naming the field, and nothing is queued
    assert response["statusCode"] == 400
    body = body_of(response)
    assert body["message"] == "Invalid purchase"
    assert field in {error["field"] for error in body["errors"]}
    assert enqueued == []


@pytest.mark.parametrize(
    ("raw_body", "message"),
    [
        pytest.param("[1, 2, 3]", "Invalid purchase", id="array"),
        pytest.param('"just text"', "Invalid purchase", id="string"),
        pytest.param("42", "Invalid purchase", id="number"),
        pytest.param("null", "Invalid purchase", id="null"),
        pytest.param('{"ProductName": ', "Request body is not valid JSON", id="truncated JSON"),
        pytest.param("{'single': 'quotes'}", "Request body is not valid JSON", id="not JSON"),
        pytest.param('{"PricePerUnit": NaN}', "Request body is not valid JSON", id="NaN"),
        pytest.param('{"a": 1, "a": 2}', "Request body is not valid JSON", id="duplicate keys"),
        pytest.param("[" * 50_000, "Request body is not valid JSON", id="deep nesting"),
        pytest.param("", "Request body is required", id="empty body"),
        pytest.param(None, "Request body is required", id="no body"),
    ],
)
def test_post_rejects_bodies_that_are_not_purchase_objects(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], raw_body: str | None, message: str
) -> None:
    # When such a body is posted
    response = send("POST", "/product-purchase", body=raw_body)

    # Then it is a 400 with the API's error shape, and nothing is queued
    assert response["statusCode"] == 400
    assert body_of(response)["message"] == message
    assert isinstance(body_of(response)["errors"], list)
    assert enqueued == []


def padded(purchase_document: dict[str, Any], size: int) -> str:
    """The document as JSON, padded with insignificant whitespace to exactly `size` bytes."""
    text = json.dumps(purchase_document)
    return text + " " * (size - len(text.encode()))


def test_body_of_exactly_64_kib_is_accepted(
    send: Callable[..., dict[str, Any]], purchase_document: dict[str, Any]
) -> None:
    assert (
        send("POST", "/product-purchase", body=padded(purchase_document, MAX_BODY_BYTES))["statusCode"] == 202
    )


def test_body_over_64_kib_is_413_and_queues_nothing(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    # Given an otherwise valid body one byte over the limit
    response = send("POST", "/product-purchase", body=padded(purchase_document, MAX_BODY_BYTES + 1))

    # Then it is refused as too large
    assert response["statusCode"] == 413
    assert body_of(response)["errors"] == []
    assert header(response, "Access-Control-Allow-Origin") == "*"
    assert enqueued == []


def test_size_limit_counts_bytes_not_characters(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage]
) -> None:
    # Given 30,000 three-byte characters: under the limit in characters, over it in bytes
    response = send("POST", "/product-purchase", body='"' + "€" * 30_000 + '"')

    # Then the size wins
    assert response["statusCode"] == 413
    assert enqueued == []


def test_base64_encoded_body_is_decoded(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    # Given the body delivered base64-encoded (binary media type)
    response = send("POST", "/product-purchase", body=json.dumps(purchase_document), base64_body=True)

    # Then it is accepted like any other
    assert response["statusCode"] == 202
    assert len(enqueued) == 1


def test_base64_body_limit_counts_decoded_bytes(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    # Given a 60 KiB body, whose base64 form is 80 KiB, and a 65 KiB one
    small = send("POST", "/product-purchase", body=padded(purchase_document, 60 * 1024), base64_body=True)
    large = send("POST", "/product-purchase", body=padded(purchase_document, 65 * 1024), base64_body=True)

    # Then only the body over 64 KiB once decoded is refused
    assert (small["statusCode"], large["statusCode"]) == (202, 413)
    assert len(enqueued) == 1


def test_invalid_base64_is_400(
    api_event: ApiEvent, lambda_context: LambdaContext, enqueued: list[WriteMessage]
) -> None:
    # Given a body flagged as base64 that is not
    event = api_event("POST", "/product-purchase", body="not base64!!")
    event["isBase64Encoded"] = True

    # Then it is a 400, not a crash
    response = sender.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 400
    assert enqueued == []


def test_event_without_any_headers_is_handled(
    api_event: ApiEvent, lambda_context: LambdaContext, purchase_document: dict[str, Any]
) -> None:
    # Given an event whose header maps are null
    event = api_event("POST", "/product-purchase", body=json.dumps(purchase_document))
    event["headers"] = event["multiValueHeaders"] = None

    # Then the purchase is accepted and the reply still carries CORS headers
    response = sender.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 202
    assert header(response, "Access-Control-Allow-Origin") == "*"


# --- Idempotency-Key ------------------------------------------------------------------------


def test_idempotency_key_replays_the_first_answer_and_queues_nothing_more(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
) -> None:
    # Given a purchase posted with an Idempotency-Key
    headers = {"Idempotency-Key": "order-7"}
    first = send("POST", "/product-purchase", body=json.dumps(purchase_document), headers=headers)

    # When the same request is retried (before or after the write lands)
    second = send("POST", "/product-purchase", body=json.dumps(purchase_document), headers=headers)

    # Then the retry gets the first answer back, id and message id included, and queued nothing
    assert first["statusCode"] == second["statusCode"] == 202
    purchase_id = purchase_id_for_idempotency_key("order-7", CLIENT_ID)
    assert body_of(first)["ProductPurchaseId"] == purchase_id
    assert body_of(second) == body_of(first)
    assert header(second, "Location") == f"product-purchase/{purchase_id}"
    assert len(enqueued) == 1


def test_the_same_purchase_written_differently_is_the_same_request(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    # Given a keyed POST, retried with its numbers as JSON numbers and its fields in another order
    headers = {"Idempotency-Key": "order-7b"}
    first = send("POST", "/product-purchase", body=json.dumps(purchase_document), headers=headers)
    respelled = {name: purchase_document[name] for name in reversed(list(purchase_document))}
    respelled["Quantity"] = int(respelled["Quantity"])
    second = send("POST", "/product-purchase", body=json.dumps(respelled), headers=headers)

    # Then it is a replay, not a mismatch: what counts is the purchase the service would queue
    assert second["statusCode"] == 202, body_of(second)
    assert body_of(second) == body_of(first)
    assert len(enqueued) == 1


def test_the_same_key_with_a_different_purchase_is_422_and_queues_nothing(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    # Given a keyed POST that was accepted
    headers = {"Idempotency-Key": "order-8"}
    send("POST", "/product-purchase", body=json.dumps(purchase_document), headers=headers)

    # When the same client reuses the key for another purchase
    other = {**purchase_document, "CustomerName": "Someone Else"}
    response = send("POST", "/product-purchase", body=json.dumps(other), headers=headers)

    # Then it is refused as unprocessable, and only the first create was queued
    assert response["statusCode"] == 422
    assert "Idempotency-Key" in body_of(response)["message"]
    assert len(enqueued) == 1


def test_a_duplicate_still_in_flight_is_409_and_queues_nothing(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
    idempotency_records: DynamoDBPersistenceLayer,
    lambda_context: LambdaContext,
) -> None:
    # Given a first request with this key still running (its record is INPROGRESS)
    sender.idempotency.register_lambda_context(lambda_context)
    idempotency_records.configure(sender.idempotency, key_prefix=KEY_PREFIX)
    idempotency_records.save_inprogress(
        idempotent_request(CLIENT_ID, "order-9", parse_purchase(purchase_document)),
        remaining_time_in_millis=60_000,
    )

    # When a duplicate arrives
    response = send(
        "POST",
        "/product-purchase",
        body=json.dumps(purchase_document),
        headers={"Idempotency-Key": "order-9"},
    )

    # Then it is told to retry later, and nothing is queued
    assert response["statusCode"] == 409
    assert enqueued == []


def test_two_clients_with_the_same_key_get_two_purchases(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    # Given two clients that happen to choose the same key
    headers = {"Idempotency-Key": "order-10"}
    first = send("POST", "/product-purchase", body=json.dumps(purchase_document), headers=headers)
    second = send(
        "POST",
        "/product-purchase",
        body=json.dumps(purchase_document),
        headers=headers,
        client_id="anotherclient000000000000002",
    )

    # Then each gets its own purchase: a key is scoped to the client that sent it
    assert first["statusCode"] == second["statusCode"] == 202
    assert body_of(first)["ProductPurchaseId"] != body_of(second)["ProductPurchaseId"]
    assert [message.client_id for message in enqueued] == [CLIENT_ID, "anotherclient000000000000002"]


def test_idempotency_key_header_name_is_case_insensitive(
    send: Callable[..., dict[str, Any]], purchase_document: dict[str, Any]
) -> None:
    # Given the header sent with its canonical capitalisation, not lower-cased
    response = send(
        "POST",
        "/product-purchase",
        body=json.dumps(purchase_document),
        headers={"Idempotency-Key": "order-9"},
        lowercase_headers=False,
    )

    # Then it is honoured
    assert body_of(response)["ProductPurchaseId"] == purchase_id_for_idempotency_key("order-9", CLIENT_ID)


@pytest.mark.parametrize("key", ["k" * 129, "bell\x07"], ids=["too long", "non-printable"])
def test_bad_idempotency_key_is_400_and_queues_nothing(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
    key: str,
) -> None:
    response = send(
        "POST", "/product-purchase", body=json.dumps(purchase_document), headers={"Idempotency-Key": key}
    )
    assert response["statusCode"] == 400
    assert "Idempotency-Key" in body_of(response)["message"]
    assert enqueued == []


# --- PUT / DELETE ---------------------------------------------------------------------------


def test_put_of_existing_purchase_queues_an_update(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    store: PurchaseStore,
    purchase_document: dict[str, Any],
) -> None:
    # Given a stored purchase
    seed(store, purchase_document, EXISTING_ID)
    purchase_document["Quantity"] = 2
    purchase_document["TotalPrice"] = 20

    # When it is replaced
    response = send("PUT", f"/product-purchase/{EXISTING_ID}", body=json.dumps(purchase_document))

    # Then 202 with the same body shape, and an update carrying the new purchase is queued
    assert response["statusCode"] == 202
    assert body_of(response) == {
        "message": "Message sent successfully",
        "messageId": "message-1",
        "ProductPurchaseId": EXISTING_ID,
    }
    assert [(m.action, m.purchase_id) for m in enqueued] == [(WriteAction.UPDATE, EXISTING_ID)]
    assert enqueued[0].purchase is not None and enqueued[0].purchase.quantity == 2


def test_put_accepts_upper_case_id(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    store: PurchaseStore,
    purchase_document: dict[str, Any],
) -> None:
    seed(store, purchase_document, EXISTING_ID)
    response = send("PUT", f"/product-purchase/{EXISTING_ID.upper()}", body=json.dumps(purchase_document))
    assert response["statusCode"] == 202
    assert enqueued[0].purchase_id == EXISTING_ID


def test_delete_of_existing_purchase_queues_a_delete(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    store: PurchaseStore,
    purchase_document: dict[str, Any],
) -> None:
    seed(store, purchase_document, EXISTING_ID)
    response = send("DELETE", f"/product-purchase/{EXISTING_ID}")
    assert response["statusCode"] == 202
    assert body_of(response)["ProductPurchaseId"] == EXISTING_ID
    assert [(m.action, m.purchase_id, m.purchase) for m in enqueued] == [
        (WriteAction.DELETE, EXISTING_ID, None)
    ]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_put_or_delete_of_unknown_purchase_is_404(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
    method: str,
) -> None:
    response = send(method, f"/product-purchase/{UNKNOWN_ID}", body=json.dumps(purchase_document))
    assert response["statusCode"] == 404
    assert body_of(response) == {"message": "Purchase not found", "errors": []}
    assert enqueued == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_put_or_delete_of_deleted_purchase_is_404(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    store: PurchaseStore,
    purchase_document: dict[str, Any],
    method: str,
) -> None:
    # Given a purchase that was deleted (a tombstone in the table)
    seed(store, purchase_document, EXISTING_ID)
    delete_in_store(store, EXISTING_ID)

    # Then it is as absent as one that never existed
    response = send(method, f"/product-purchase/{EXISTING_ID}", body=json.dumps(purchase_document))
    assert response["statusCode"] == 404
    assert enqueued == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize(
    "bad_id",
    ["123", "not-a-uuid", "0b8f5a4e1c2d4e3f8a9b0c1d2e3f4a5b", "%7B0b8f5a4e-1c2d-4e3f-8a9b-0c1d2e3f4a5b%7D",
     "\U0001f600", "%F0%9F%98%80", "caf\u00e9"],
)  # fmt: skip
def test_put_or_delete_with_non_uuid_id_is_400(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    purchase_document: dict[str, Any],
    method: str,
    bad_id: str,
) -> None:
    response = send(method, f"/product-purchase/{bad_id}", body=json.dumps(purchase_document))
    assert response["statusCode"] == 400
    assert body_of(response)["message"] == "ProductPurchaseId must be a UUID"
    assert enqueued == []


def test_put_with_invalid_body_is_400_and_queues_nothing(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    store: PurchaseStore,
    purchase_document: dict[str, Any],
) -> None:
    seed(store, purchase_document, EXISTING_ID)
    purchase_document["ProductPurchaseId"] = EXISTING_ID
    response = send("PUT", f"/product-purchase/{EXISTING_ID}", body=json.dumps(purchase_document))
    assert response["statusCode"] == 400
    assert enqueued == []


# --- routing, CORS, failures, logs, metrics -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/product-purchase", 405),
        ("PATCH", f"/product-purchase/{EXISTING_ID}", 405),
        ("POST", "/somewhere-else", 404),
        ("POST", f"/product-purchase/{EXISTING_ID}/extra", 404),
    ],
)
def test_unrouted_requests_get_the_error_shape(
    send: Callable[..., dict[str, Any]], method: str, path: str, status: int
) -> None:
    response = send(method, path)
    assert response["statusCode"] == status
    assert set(body_of(response)) == {"message", "errors"}
    assert header(response, "Access-Control-Allow-Origin") == "*"
    if status == 405:
        assert header(response, "Allow")


def test_method_not_allowed_lists_allowed_methods(send: Callable[..., dict[str, Any]]) -> None:
    assert header(send("GET", f"/product-purchase/{EXISTING_ID}"), "Allow") == "DELETE, OPTIONS, PUT"


@pytest.mark.parametrize("origin", [None, "https://shop.example.com"])
def test_cors_headers_are_on_success_and_error_responses(
    send: Callable[..., dict[str, Any]], purchase_document: dict[str, Any], origin: str | None
) -> None:
    # Given requests with and without an Origin header
    headers = {"Origin": origin} if origin else {}

    # When one succeeds and one fails
    ok = send("POST", "/product-purchase", body=json.dumps(purchase_document), headers=headers)
    refused = send("POST", "/product-purchase", body="{", headers=headers)

    # Then both carry the CORS headers, exactly once each
    for response in (ok, refused):
        assert header(response, "Access-Control-Allow-Origin") == "*"
        assert "Idempotency-Key" in (header(response, "Access-Control-Allow-Headers") or "")
        assert "Location" in (header(response, "Access-Control-Expose-Headers") or "")
        names = [name.lower() for name in response["multiValueHeaders"]]
        assert len(names) == len(set(names))


def test_preflight_request_is_answered_with_cors_headers(send: Callable[..., dict[str, Any]]) -> None:
    # Given a browser's preflight for a DELETE
    response = send(
        "OPTIONS",
        f"/product-purchase/{EXISTING_ID}",
        headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "DELETE"},
    )

    # Then it is answered without a body and allows every method of the API (GET included, though
    # this function serves none) from any origin
    assert response["statusCode"] == 204
    assert header(response, "Access-Control-Allow-Origin") == "*"
    assert header(response, "Access-Control-Allow-Methods") == "DELETE,GET,OPTIONS,POST,PUT"


def test_event_the_router_cannot_read_is_500_with_cors(
    api_event: ApiEvent, lambda_context: LambdaContext, enqueued: list[WriteMessage]
) -> None:
    # Given an event missing its HTTP method (not an API Gateway proxy event at all)
    event = api_event("POST", "/product-purchase", body="{}")
    del event["httpMethod"]

    # Then the reply is still the API's 500, with CORS headers
    response = sender.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 500
    assert body_of(response) == {"message": "Internal server error", "errors": []}
    assert header(response, "Access-Control-Allow-Origin") == "*"
    assert enqueued == []


class ExplodingQueue:
    def enqueue_write(self, message: WriteMessage) -> str:
        raise RuntimeError("boto3 says: credentials for arn:aws:iam::123456789012 expired")


def test_unexpected_failure_is_500_without_details(
    send: Callable[..., dict[str, Any]], store: PurchaseStore, purchase_document: dict[str, Any]
) -> None:
    # Given a queue that fails unexpectedly
    sender.commands.override(PurchaseCommands(store=store, queue=ExplodingQueue()))

    # When a purchase is posted
    response = send("POST", "/product-purchase", body=json.dumps(purchase_document))

    # Then the client gets a generic 500 with CORS headers and none of the exception text
    assert response["statusCode"] == 500
    assert body_of(response) == {"message": "Internal server error", "errors": []}
    assert "credentials" not in response["body"]
    assert header(response, "Access-Control-Allow-Origin") == "*"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = sender.logger.registered_handler
    previous = handler.setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    handler.setStream(previous)  # type: ignore[attr-defined]


def test_bodies_are_not_logged_but_correlation_is(
    send: Callable[..., dict[str, Any]], log_output: io.StringIO, purchase_document: dict[str, Any]
) -> None:
    # Given purchases carrying a customer's name, accepted and refused
    purchase_document["CustomerName"] = "Ada Lovelace-Unique"
    send("POST", "/product-purchase", body=json.dumps(purchase_document), request_id="req-corr-1")
    purchase_document["Quantity"] = 0
    send("POST", "/product-purchase", body=json.dumps(purchase_document), request_id="req-corr-2")

    # Then the logs carry the API request ids but never the bodies
    logs = log_output.getvalue()
    assert "Ada Lovelace-Unique" not in logs
    records = [json.loads(line) for line in logs.splitlines()]
    assert {record.get("correlation_id") for record in records} >= {"req-corr-1", "req-corr-2"}


def test_metrics_count_accepted_and_rejected(
    send: Callable[..., dict[str, Any]], capsys: pytest.CaptureFixture[str], purchase_document: dict[str, Any]
) -> None:
    # When one purchase is accepted and one rejected
    send("POST", "/product-purchase", body=json.dumps(purchase_document))
    send("POST", "/product-purchase", body="[]")

    # Then one embedded-metric record of each is printed in the configured namespace
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = [
        metric["Name"] for record in emitted for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    ]
    assert names == ["PurchaseAccepted", "PurchaseRejected"]
    assert {record["_aws"]["CloudWatchMetrics"][0]["Namespace"] for record in emitted} == {"ProductPurchase"}


# --- who wrote what ---------------------------------------------------------------------------


def test_every_write_message_names_the_calling_client(
    send: Callable[..., dict[str, Any]],
    enqueued: list[WriteMessage],
    store: PurchaseStore,
    purchase_document: dict[str, Any],
) -> None:
    # Given a stored purchase
    seed(store, purchase_document, EXISTING_ID)

    # When a client creates, replaces and deletes
    body = json.dumps(purchase_document)
    send("POST", "/product-purchase", body=body)
    send("PUT", f"/product-purchase/{EXISTING_ID}", body=body)
    send("DELETE", f"/product-purchase/{EXISTING_ID}")

    # Then each queued write carries the client id from the token
    assert [message.client_id for message in enqueued] == [CLIENT_ID] * 3


def test_a_write_without_the_authorizers_client_is_401_and_queues_nothing(
    send: Callable[..., dict[str, Any]], enqueued: list[WriteMessage], purchase_document: dict[str, Any]
) -> None:
    # Given an event with no authorizer claims (the API would never send one; a misconfigured one might)
    response = send("POST", "/product-purchase", body=json.dumps(purchase_document), client_id=None)

    # Then the sender refuses rather than guess who wrote it
    assert response["statusCode"] == 401
    assert enqueued == []


def test_an_accepted_write_logs_where_its_journey_starts(
    send: Callable[..., dict[str, Any]], log_output: io.StringIO, purchase_document: dict[str, Any]
) -> None:
    # Given a write API Gateway received at a known time
    response = send("POST", "/product-purchase", body=json.dumps(purchase_document), request_id="req-journey")
    # Then its accepted line names the purchase, the request and when API Gateway received it (`invoke trace`)
    [accepted] = [
        json.loads(line) for line in log_output.getvalue().splitlines() if "Purchase write accepted" in line
    ]
    assert accepted["purchase_id"] == body_of(response)["ProductPurchaseId"]
    assert accepted["correlation_id"] == "req-journey"
    assert accepted["request_time_epoch"] == 1_700_000_000_000
