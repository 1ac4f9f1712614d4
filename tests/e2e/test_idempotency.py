"""The Idempotency-Key header (IETF draft): a retried create gets the first answer back and creates nothing new; a
key is scoped to its client; reusing it for another purchase is 422, a duplicate in flight 409."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from devkit.engines import Engine
from devkit.stack.auth import READ_WRITE_SCOPES, access_token
from devkit.stack.consumers import create_consumer, remove_consumer
from purchases.idempotency import KEY_PREFIX, idempotency_config, idempotent_request
from purchases.rules import parse_purchase

from .support import Api, Stack, unique_token


def test_the_same_key_gives_the_same_id_and_one_record(
    api: Api, quiet_queue: Stack, new_purchase: Callable[..., dict[str, Any]]
) -> None:
    # Given a client that retries a create with the same Idempotency-Key
    key = f"e2e-{unique_token()}"
    body = new_purchase()

    # When it POSTs twice (the second time, say, after a lost reply)
    first = api.create(body, headers={"Idempotency-Key": key})
    second = api.create(body, headers={"Idempotency-Key": key})

    # Then both are accepted with the same ProductPurchaseId
    assert first.status == 202, first.body
    assert second.status == 202, second.body
    purchase_id = first.json()["ProductPurchaseId"]
    assert second.json()["ProductPurchaseId"] == purchase_id

    # And exactly one record exists for it, listed once
    api.readable(purchase_id)
    quiet_queue.wait_queue_empty()
    api.listed_when(lambda ids: ids.count(purchase_id) == 1, "the purchase to be listed once")
    product_ids = [item["ProductId"] for page in api.pages(100) for item in page.json()]
    assert product_ids.count(body["ProductId"]) == 1


def test_a_different_key_gives_a_different_id(api: Api, new_purchase: Callable[..., dict[str, Any]]) -> None:
    # Given the same body sent with two different keys
    body = new_purchase()
    # When both are POSTed
    ids = {api.accept(body, headers={"Idempotency-Key": f"e2e-{unique_token()}"}) for _ in range(2)}
    # Then they are two purchases
    assert len(ids) == 2


# --- per client, per the IETF Idempotency-Key draft -------------------------------------------------------------


def test_a_replay_gets_the_first_answer_back(api: Api, new_purchase: Callable[..., dict[str, Any]]) -> None:
    # Given a keyed create that was accepted
    key = f"e2e-{unique_token()}"
    body = new_purchase()
    first = api.create(body, headers={"Idempotency-Key": key})
    # When it is replayed
    again = api.create(body, headers={"Idempotency-Key": key})
    # Then the answer is the first one, message id included: nothing new was queued
    assert first.status == again.status == 202, (first.body, again.body)
    assert again.json() == first.json()


def test_the_same_key_with_another_purchase_is_422_and_queues_nothing(
    api: Api, quiet_queue: Stack, new_purchase: Callable[..., dict[str, Any]]
) -> None:
    # Given a keyed create that was accepted
    key = f"e2e-{unique_token()}"
    first = api.create(new_purchase(), headers={"Idempotency-Key": key})
    assert first.status == 202, first.body
    # When the same client sends another purchase with that key
    other = new_purchase()
    reply = api.create(other, headers={"Idempotency-Key": key})
    # Then it is refused as unprocessable, with the error shape and CORS
    assert reply.status == 422, reply.body
    assert reply.json()["errors"] == [] and "Idempotency-Key" in reply.json()["message"]
    assert reply.headers.get("access-control-allow-origin") == "*"
    # And the other purchase is nowhere: only the first was queued and stored
    api.readable(first.json()["ProductPurchaseId"])
    quiet_queue.wait_queue_empty()
    product_ids = [item["ProductId"] for page in api.pages(100) for item in page.json()]
    assert other["ProductId"] not in product_ids


def test_a_duplicate_while_the_first_is_in_flight_is_409(
    api: Api,
    quiet_queue: Stack,
    outputs: dict[str, Any],
    aws_client: Callable[[str], Any],
    new_purchase: Callable[..., dict[str, Any]],
) -> None:
    # Given a keyed create of the development client still being processed: its idempotency record is INPROGRESS
    # (written here with Powertools' own persistence layer, as the sender would at the start of the request)
    key = f"e2e-{unique_token()}"
    body = new_purchase()
    records = DynamoDBPersistenceLayer(
        table_name=outputs["IdempotencyTableName"], boto3_client=aws_client("dynamodb")
    )
    records.configure(idempotency_config(), key_prefix=KEY_PREFIX)
    request = idempotent_request(outputs["DevelopmentClientId"], key, parse_purchase(body))
    records.save_inprogress(request, remaining_time_in_millis=60_000)
    try:
        # When the duplicate arrives
        reply = api.create(body, headers={"Idempotency-Key": key})
        # Then it is told to retry shortly, and nothing is queued or stored
        assert reply.status == 409, reply.body
        assert reply.headers.get("access-control-allow-origin") == "*"
        quiet_queue.wait_queue_empty()
        product_ids = [item["ProductId"] for page in api.pages(100) for item in page.json()]
        assert body["ProductId"] not in product_ids
    finally:
        records.delete_record(request, RuntimeError("e2e: end of the simulated request"))


def test_a_key_reused_after_its_record_expired_is_422_for_another_purchase_and_replays_the_same(
    api: Api,
    stack: Stack,
    quiet_queue: Stack,
    outputs: dict[str, Any],
    aws_client: Callable[[str], Any],
    new_purchase: Callable[..., dict[str, Any]],
) -> None:
    # Given a keyed create that was stored, and whose idempotency record is gone (as after its 24 h), removed here
    # with Powertools' own persistence layer
    key = f"e2e-{unique_token()}"
    body = new_purchase()
    first = api.create(body, headers={"Idempotency-Key": key})
    assert first.status == 202, first.body
    purchase_id = first.json()["ProductPurchaseId"]
    api.readable(purchase_id)
    records = DynamoDBPersistenceLayer(
        table_name=outputs["IdempotencyTableName"], boto3_client=aws_client("dynamodb")
    )
    records.configure(idempotency_config(), key_prefix=KEY_PREFIX)
    records.delete_record(
        idempotent_request(api.client_id(), key, parse_purchase(body)),
        RuntimeError("e2e: the record expired"),
    )
    stored = stack.raw_item(purchase_id)

    # When the key comes back with another purchase
    other = api.create(new_purchase(), headers={"Idempotency-Key": key})

    # Then it is refused in the API's error shape, nothing is queued, and the purchase is unchanged
    assert other.status == 422, other.body
    assert other.json() == {
        "message": "This Idempotency-Key was already used with a different purchase",
        "errors": [],
    }
    quiet_queue.wait_queue_empty()
    assert stack.raw_item(purchase_id) == stored

    # And the same purchase with the key is answered with its id again
    again = api.create(body, headers={"Idempotency-Key": key})
    assert again.status == 202, again.body
    assert again.json()["ProductPurchaseId"] == purchase_id


@pytest.fixture(scope="module")
def second_client(engine: Engine, outputs: dict[str, Any]) -> Iterator[str]:
    """Another consumer of the API (an app client with read and write), removed afterwards."""
    created = create_consumer(engine, outputs, f"e2e-{unique_token()}", READ_WRITE_SCOPES)
    try:
        yield created.client_id
    finally:
        remove_consumer(engine, outputs, created.client_id)


def test_two_clients_with_the_same_key_get_two_purchases_each_recorded_with_its_client(
    api: Api,
    stack: Stack,
    engine: Engine,
    outputs: dict[str, Any],
    second_client: str,
    new_purchase: Callable[..., dict[str, Any]],
) -> None:
    # Given two services that happen to choose the same Idempotency-Key
    key = f"e2e-{unique_token()}"
    body = new_purchase()
    other = f"Bearer {access_token(engine, outputs, client_id=second_client)}"
    # When both create with it
    mine = api.create(body, headers={"Idempotency-Key": key})
    theirs = api.send("POST", api.collection_url, body, headers={"Idempotency-Key": key}, authorization=other)
    # Then each gets its own purchase
    assert mine.status == theirs.status == 202, (mine.body, theirs.body)
    my_id, their_id = mine.json()["ProductPurchaseId"], theirs.json()["ProductPurchaseId"]
    assert my_id != their_id
    # And each purchase records its owner, as bookkeeping the API never returns
    served = Api(api.base_url, lambda: {"Authorization": other}).readable(their_id)
    api.readable(my_id)
    assert "ClientId" not in served
    my_item, their_item = stack.raw_item(my_id), stack.raw_item(their_id)
    assert my_item is not None and their_item is not None
    assert my_item["ClientId"] == outputs["DevelopmentClientId"]
    assert their_item["ClientId"] == second_client
