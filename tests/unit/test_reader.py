"""The reader (GET one, GET a page) through its Lambda entry point, on a moto DynamoDB table."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from conftest import CLIENT_ID

import reader
from purchases.adapters.dynamodb import DynamoDbPurchaseStore
from purchases.messages import WriteAction, WriteMessage
from purchases.ports import Page, PurchaseStore, RecordHead, StoredPurchase, WriteOutcome
from purchases.rules import parse_purchase

ApiEvent = Callable[..., dict[str, Any]]
LINK = re.compile(r'^<\?limit=(\d+)&cursor=([A-Za-z0-9_-]+)>; rel="next"$')


@pytest.fixture
def table_store(dynamodb_store: DynamoDbPurchaseStore) -> Iterator[DynamoDbPurchaseStore]:
    reader.store.override(dynamodb_store)
    yield dynamodb_store
    reader.store.override(None)


@pytest.fixture
def get(api_event: ApiEvent, lambda_context: LambdaContext) -> Callable[..., dict[str, Any]]:
    def call(path: str, query: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
        event = api_event(kwargs.pop("method", "GET"), path, query=query, **kwargs)
        response: dict[str, Any] = reader.lambda_handler(event, lambda_context)
        return response

    return call


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def header(response: dict[str, Any], name: str) -> str | None:
    for key, values in response.get("multiValueHeaders", {}).items():
        if key.lower() == name.lower():
            return ", ".join(values)
    return None


def purchase_id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def create(
    store: PurchaseStore, document: dict[str, Any], number: int, stamp: int = 10, owner: str = CLIENT_ID
) -> str:
    """Stores purchase `number`, by default owned by the client the test requests come from."""
    pid = purchase_id(number)
    store.apply_write(
        WriteMessage(WriteAction.CREATE, pid, parse_purchase(document), stamp, "seed", owner, owner)
    )
    return pid


def delete(store: PurchaseStore, pid: str, stamp: int = 20, owner: str = CLIENT_ID) -> None:
    store.apply_write(WriteMessage(WriteAction.DELETE, pid, None, stamp, "seed", owner, owner))


# --- GET one --------------------------------------------------------------------------------


def test_get_returns_the_purchase_with_json_numbers_and_no_bookkeeping(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, purchase_document: dict[str, Any]
) -> None:
    # Given a stored purchase whose numbers were sent as strings
    purchase_document.update({"PricePerUnit": "10.50", "Quantity": "3", "TotalPrice": "31.5"})
    pid = create(table_store, purchase_document, 1)

    # When it is read
    response = get(f"/product-purchase/{pid}")

    # Then it comes back with its id, numbers as JSON numbers (integers without fraction) and
    # none of the table's bookkeeping
    assert response["statusCode"] == 200
    assert '"Quantity":3,' in response["body"]
    assert '"PricePerUnit":10.5,' in response["body"]
    assert body_of(response) == {
        "ProductPurchaseId": pid,
        **{name: value for name, value in purchase_document.items() if name not in {"PricePerUnit", "Quantity",
                                                                                       "TotalPrice"}},
        "PricePerUnit": 10.5,
        "Quantity": 3,
        "TotalPrice": 31.5,
    }  # fmt: skip
    assert not {"Version", "Deleted", "ExpiresAt"} & set(body_of(response))
    assert header(response, "Access-Control-Allow-Origin") == "*"


def test_get_keeps_every_digit_of_a_high_precision_total(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, purchase_document: dict[str, Any]
) -> None:
    purchase_document.update({"PricePerUnit": "123456789.123456", "Quantity": "999"})
    del purchase_document["TotalPrice"]
    pid = create(table_store, purchase_document, 2)

    body = json.loads(get(f"/product-purchase/{pid}")["body"], parse_float=Decimal)

    assert body["TotalPrice"] == Decimal("123333332334.332544")


def test_get_accepts_upper_case_id(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, purchase_document: dict[str, Any]
) -> None:
    pid = create(table_store, purchase_document, 3)
    assert get(f"/product-purchase/{pid.upper()}")["statusCode"] == 200


def test_get_of_unknown_purchase_is_404(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore
) -> None:
    response = get(f"/product-purchase/{purchase_id(404)}")
    assert response["statusCode"] == 404
    assert body_of(response) == {"message": "Purchase not found", "errors": []}
    assert header(response, "Access-Control-Allow-Origin") == "*"


def test_get_of_deleted_purchase_is_404(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, purchase_document: dict[str, Any]
) -> None:
    # Given a purchase that was created, then deleted (a tombstone remains in the table)
    pid = create(table_store, purchase_document, 5)
    delete(table_store, pid)

    # Then reading it is a 404, as if it never existed
    assert get(f"/product-purchase/{pid}")["statusCode"] == 404


@pytest.mark.parametrize(
    "bad_id", ["42", "not-a-uuid", "00000000000040008000000000000001", "\U0001f600", "%F0%9F%98%80"]
)
def test_get_with_non_uuid_id_is_400(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, bad_id: str
) -> None:
    response = get(f"/product-purchase/{bad_id}")
    assert response["statusCode"] == 400
    assert body_of(response)["message"] == "ProductPurchaseId must be a UUID"


# --- GET a page -----------------------------------------------------------------------------


def test_empty_table_gives_an_empty_list_without_link(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore
) -> None:
    response = get("/product-purchase")
    assert response["statusCode"] == 200
    assert body_of(response) == []
    assert header(response, "Link") is None


def follow_pages(get: Callable[..., dict[str, Any]], limit: int) -> list[list[dict[str, Any]]]:
    """Every page, following Link headers the way a client resolves them against the URL it used."""
    pages: list[list[dict[str, Any]]] = []
    query: dict[str, str] | None = {"limit": str(limit)}
    while query is not None:
        response = get("/product-purchase", query=query)
        assert response["statusCode"] == 200
        pages.append(body_of(response))
        link = header(response, "Link")
        if link is None:
            query = None
        else:
            match = LINK.match(link)
            assert match, link
            assert match.group(1) == str(limit)
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link[1 : link.index(">")]).query))
        assert len(pages) < 50, "pagination does not terminate"
    return pages


def test_pages_cover_every_live_purchase_once_and_skip_deleted_ones(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, purchase_document: dict[str, Any]
) -> None:
    # Given 11 purchases of which 4 were deleted
    ids = [create(table_store, purchase_document, number) for number in range(1, 12)]
    deleted = {ids[0], ids[4], ids[5], ids[10]}
    for pid in deleted:
        delete(table_store, pid)

    # When every page of 3 is followed through its Link header
    pages = follow_pages(get, limit=3)

    # Then there are several pages, none larger than asked, and together they hold each live
    # purchase exactly once and no deleted one
    assert len(pages) >= 3
    assert all(len(page) <= 3 for page in pages)
    seen = [item["ProductPurchaseId"] for page in pages for item in page]
    assert sorted(seen) == sorted(set(ids) - deleted)
    assert all("Version" not in item and "Deleted" not in item for page in pages for item in page)


def test_default_page_size_is_50(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, purchase_document: dict[str, Any]
) -> None:
    # Given more purchases than one default page holds
    for number in range(1, 53):
        create(table_store, purchase_document, number)

    # When the list is read without a limit
    response = get("/product-purchase")

    # Then 50 come back with a link to the rest
    assert len(body_of(response)) == 50
    link = header(response, "Link")
    assert link is not None and LINK.match(link) and link.startswith("<?limit=50&")


def test_cursor_round_trip_resumes_where_the_page_ended(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, purchase_document: dict[str, Any]
) -> None:
    # Given 5 purchases
    for number in range(1, 6):
        create(table_store, purchase_document, number)

    # When the first 2 are read, then the cursor from the Link header is used
    first = get("/product-purchase", query={"limit": "2"})
    match = LINK.match(header(first, "Link") or "")
    assert match
    second = get("/product-purchase", query={"limit": "3", "cursor": match.group(2)})

    # Then the second page holds the other 3, and the cursor was opaque (no raw id in it)
    first_ids = {item["ProductPurchaseId"] for item in body_of(first)}
    second_ids = {item["ProductPurchaseId"] for item in body_of(second)}
    assert len(first_ids | second_ids) == 5
    assert not first_ids & second_ids
    assert not any(pid in match.group(2) for pid in first_ids)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "1.5", "abc", "", " 5", "1000000000000"])
def test_limit_outside_1_to_100_or_not_an_integer_is_400(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, limit: str
) -> None:
    response = get("/product-purchase", query={"limit": limit})
    assert response["statusCode"] == 400
    assert "limit" in body_of(response)["message"]


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_bounds_are_accepted(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, limit: str
) -> None:
    assert get("/product-purchase", query={"limit": limit})["statusCode"] == 200


def forged(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("not a cursor!", id="not base64"),
        pytest.param("AAAA", id="base64 of junk"),
        pytest.param(forged([1, 2]), id="not an object"),
        pytest.param(forged({"after": "not-a-uuid"}), id="id not a uuid"),
        pytest.param(forged({"after": purchase_id(1), "more": 1}), id="extra field"),
        pytest.param("A" * 1000, id="too long"),
    ],
)
def test_invalid_cursor_is_400(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, cursor: str
) -> None:
    response = get("/product-purchase", query={"cursor": cursor})
    assert response["statusCode"] == 400
    assert body_of(response)["errors"] == []
    assert header(response, "Access-Control-Allow-Origin") == "*"


# --- routing and failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/product-purchase"), ("DELETE", f"/product-purchase/{purchase_id(1)}")]
)
def test_other_methods_are_405(
    get: Callable[..., dict[str, Any]], table_store: DynamoDbPurchaseStore, method: str, path: str
) -> None:
    response = get(path, method=method)
    assert response["statusCode"] == 405
    assert header(response, "Allow") == "GET, OPTIONS"
    assert header(response, "Access-Control-Allow-Origin") == "*"


class BrokenStore:
    def get(self, purchase_id: str) -> StoredPurchase | None:
        raise RuntimeError("ProvisionedThroughputExceeded on table secret-table-name")

    def head(self, purchase_id: str) -> RecordHead:
        raise RuntimeError("ProvisionedThroughputExceeded on table secret-table-name")

    def page(self, limit: int, cursor: str | None) -> Page:
        raise RuntimeError("ProvisionedThroughputExceeded on table secret-table-name")

    def owned_page(self, owner: str, limit: int, cursor: str | None) -> Page:
        raise RuntimeError("ProvisionedThroughputExceeded on table secret-table-name")

    def apply_write(self, message: WriteMessage) -> WriteOutcome:
        raise NotImplementedError


@pytest.mark.parametrize("path", ["/product-purchase", f"/product-purchase/{purchase_id(1)}"])
def test_store_failure_is_500_without_details(get: Callable[..., dict[str, Any]], path: str) -> None:
    # Given a store that fails unexpectedly
    reader.store.override(BrokenStore())
    try:
        response = get(path)
    finally:
        reader.store.override(None)

    # Then the client gets a generic 500 with CORS headers and no exception text
    assert response["statusCode"] == 500
    assert body_of(response) == {"message": "Internal server error", "errors": []}
    assert "secret-table-name" not in response["body"]
    assert header(response, "Access-Control-Allow-Origin") == "*"
