"""The original service's documented curl flow: create, list, get, update, delete - against the running stack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .support import BOOKKEEPING_FIELDS, Api, same_purchase


def test_create_list_get_update_delete(api: Api, new_purchase: Callable[..., dict[str, Any]]) -> None:
    # Given a purchase written the way the original samples write it (numbers as strings)
    sent = new_purchase()

    # When it is created
    created = api.create(sent)

    # Then the API accepts it, names its id and says where it will be
    assert created.status == 202, created.body
    body = created.json()
    assert body["message"] == "Message sent successfully"
    assert body["messageId"]
    purchase_id = body["ProductPurchaseId"]
    assert created.headers["location"].endswith(f"product-purchase/{purchase_id}")

    # And it becomes readable, with numbers as JSON numbers and no bookkeeping fields
    stored = api.readable(purchase_id)
    assert stored["ProductPurchaseId"] == purchase_id
    assert same_purchase(stored, sent), stored
    for name in ("PricePerUnit", "Quantity", "TotalPrice"):
        assert isinstance(stored[name], int | float) and not isinstance(stored[name], bool), (
            name,
            stored[name],
        )
    assert not BOOKKEEPING_FIELDS & stored.keys(), stored

    # And the list contains it
    api.listed_when(lambda ids: purchase_id in ids, "the purchase to be listed")

    # When it is replaced with new values
    changed = new_purchase(ProductName="Jacket", PricePerUnit=189, Quantity=3, TotalPrice=None)
    updated = api.replace(purchase_id, changed)

    # Then the update is accepted with the same reply shape, and the new state shows up, total derived
    assert updated.status == 202, updated.body
    assert updated.json()["ProductPurchaseId"] == purchase_id
    assert updated.json()["message"] == "Message sent successfully"
    now = api.reads_as(purchase_id, lambda item: item["ProductName"] == "Jacket", "the update to be readable")
    assert same_purchase(now, {**changed, "TotalPrice": 567}), now

    # When it is deleted
    deleted = api.delete(purchase_id)

    # Then the delete is accepted, the purchase disappears from reads and from the list
    assert deleted.status == 202, deleted.body
    assert deleted.json()["ProductPurchaseId"] == purchase_id
    gone = api.gone(purchase_id)
    assert gone.json()["message"]
    api.listed_when(lambda ids: purchase_id not in ids, "the deleted purchase to leave the list")
