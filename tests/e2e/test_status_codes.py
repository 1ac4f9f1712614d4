"""Every status code of the API contract, and proof that rejected writes leave no trace in the queue or table."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from devkit.core.http import Reply

from .support import Api, Stack, make_purchase

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Rejected:
    """A write request the API must refuse: `body` is JSON-encoded unless it is already bytes."""

    name: str
    body: Any
    status: int = 400


def _oversized() -> dict[str, Any]:
    return make_purchase(ProductDescription="x" * (MAX_BODY + 1))


REJECTED_BODIES = [
    Rejected("malformed JSON", b'{"ProductId": "p-1", "ProductName": '),
    Rejected("JSON array", b"[1, 2, 3]"),
    Rejected("JSON string", b'"a purchase"'),
    Rejected("JSON number", b"42"),
    Rejected("JSON null", b"null"),
    Rejected("empty body", b""),
    Rejected("unknown field", make_purchase(Colour="red")),
    Rejected("client-chosen ProductPurchaseId", make_purchase(ProductPurchaseId=str(uuid.uuid4()))),
    Rejected("empty string", make_purchase(ProductName="")),
    Rejected("blank string", make_purchase(CustomerName="   ")),
    Rejected("missing required field", {k: v for k, v in make_purchase().items() if k != "CustomerId"}),
    Rejected("zero price", make_purchase(PricePerUnit="0", TotalPrice=None)),
    Rejected("fractional quantity", make_purchase(Quantity=1.5, TotalPrice=None)),
    Rejected("total that is not price x quantity", make_purchase(TotalPrice="999")),
    Rejected("time that is not ISO 8601", make_purchase(TimeOfPurchase="yesterday at noon")),
    Rejected("body over 64 KiB", _oversized(), 413),
]
BAD_IDS = [
    "not-a-uuid",
    "12345",
    "6f1c5e0a3b7d5d2e9a448c1f0b7e2d93",
    "%7B6f1c5e0a-3b7d-5d2e-9a44-8c1f0b7e2d93%7D",
    "caf%C3%A9",
    # A character outside the router's path-parameter pattern (found by the fuzzer): still a bad id, not a 405.
    "%F0%9F%98%80",
]
BAD_QUERIES = [
    "limit=0",
    "limit=101",
    "limit=-1",
    "limit=ten",
    "limit=1.5",
    "cursor=not-a-cursor!",
    "cursor=%00",
]


def _encoded(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def _assert_error(reply: Reply, status: int) -> None:
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.body[:300]!r}"
    error = reply.json()
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["errors"], list)
    assert "Traceback" not in reply.body.decode(errors="replace")
    assert reply.headers.get("access-control-allow-origin") == "*"


@pytest.fixture(scope="module")
def existing(api: Api) -> tuple[str, dict[str, Any]]:
    """A purchase that exists, for the PUT and DELETE cases."""
    return api.create_readable()


@pytest.mark.parametrize("case", REJECTED_BODIES, ids=lambda case: case.name)
def test_a_create_with_a_bad_body_is_rejected(api: Api, case: Rejected) -> None:
    # Given a body that is not an acceptable purchase
    # When it is POSTed
    reply = api.create(_encoded(case.body))
    # Then the API refuses it with the contract's status and error shape
    _assert_error(reply, case.status)


@pytest.mark.parametrize("case", REJECTED_BODIES, ids=lambda case: case.name)
def test_a_replace_with_a_bad_body_is_rejected(
    api: Api, existing: tuple[str, dict[str, Any]], case: Rejected
) -> None:
    # Given an existing purchase and a body that is not an acceptable purchase
    purchase_id, _ = existing
    # When it is PUT over the purchase
    reply = api.replace(purchase_id, _encoded(case.body))
    # Then the API refuses it
    _assert_error(reply, case.status)


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_id_that_is_not_a_uuid_is_rejected(api: Api, method: str, bad_id: str) -> None:
    # Given an id that is not the canonical UUID form the service hands out
    # When any item operation uses it
    reply = api.send(method, api.item_url(bad_id), make_purchase() if method == "PUT" else None)
    # Then the API answers 400
    _assert_error(reply, 400)


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_a_bad_limit_or_cursor_is_rejected(api: Api, query: str) -> None:
    # Given a page size outside 1..100 or a cursor the service did not issue
    # When the list is requested with it
    reply = api.list_page(query)
    # Then the API answers 400
    _assert_error(reply, 400)


def test_an_unknown_id_is_not_found(api: Api, stack: Stack) -> None:
    # Given an id no purchase has
    unknown = str(uuid.uuid4())
    # When it is read, replaced and deleted
    replies = [api.get(unknown), api.replace(unknown, make_purchase()), api.delete(unknown)]
    # Then each answers 404 and nothing was written for it
    for reply in replies:
        _assert_error(reply, 404)
    assert stack.raw_item(unknown) is None


def test_rejected_writes_enqueue_and_write_nothing(
    api: Api, quiet_queue: Stack, existing: tuple[str, dict[str, Any]]
) -> None:
    # Given an empty queue and an existing purchase
    purchase_id, _ = existing
    before = api.get(purchase_id).json()
    unknown = str(uuid.uuid4())

    # When every kind of rejected write is sent (creates, replaces, deletes of unknown and malformed ids)
    statuses = [api.create(_encoded(case.body)).status for case in REJECTED_BODIES]
    statuses += [api.replace(purchase_id, _encoded(case.body)).status for case in REJECTED_BODIES]
    statuses += [api.replace(unknown, make_purchase()).status, api.delete(unknown).status]
    statuses += [api.delete(bad_id).status for bad_id in BAD_IDS]
    assert all(400 <= status < 500 for status in statuses), statuses

    # And then one valid write, which the writer applies after anything enqueued before it
    api.create_readable()

    # Then the queue empties within half a visibility timeout: a rejected write that had been enqueued would fail
    # in the writer and stay in flight for the whole visibility timeout
    quiet_queue.wait_queue_empty(
        timeout=quiet_queue.visibility_timeout() / 2,
        what="the queue to hold nothing but applied writes",
    )
    # And the existing purchase is unchanged, and the unknown id has no item (not even a tombstone)
    assert api.get(purchase_id).json() == before
    assert quiet_queue.raw_item(unknown) is None
