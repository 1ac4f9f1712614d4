"""The Idempotency-Key header: a retried create gets the same id and creates nothing new."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
