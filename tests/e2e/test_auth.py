"""Authentication: every method needs an access token of the stage's user pool with the method's scope.

The matrix: each of the five methods x each way a caller can be wrong (no token, a malformed header, a token of
another user pool, an expired token, a tampered signature, `alg: none`, the wrong scope). Each is refused by API
Gateway with 401 (or 403), the API's JSON error shape and the CORS headers, and nothing reaches the queue or the
table. The preflight stays open (test_cors.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devkit.engines import Engine
from devkit.stack.auth import READ_SCOPE, WRITE_SCOPE, access_token

from .auth_tokens import app_client, claims, foreign_pool, tampered, token_for, unsigned
from .support import Api, Stack, eventually, make_purchase, unique_token

ORIGIN = "https://shop.example.com"
METHODS = [
    ("POST", "collection"),
    ("GET", "collection"),
    ("GET", "item"),
    ("PUT", "item"),
    ("DELETE", "item"),
]
CASES = [
    "no token",
    "another scheme",
    "not a JWT",
    "token from another pool",
    "expired token",
    "tampered signature",
    "alg none",
    "wrong scope",
]
# Seconds the short-lived client's tokens live on the emulators (Cognito itself allows 5 minutes at least).
SHORT_LIFETIME = 3


@pytest.fixture(scope="module")
def existing(api: Api) -> tuple[str, dict[str, Any]]:
    """A purchase the PUT and DELETE of the matrix would change, if they got through."""
    return api.create_readable()


@pytest.fixture(scope="module")
def foreign_token(engine: Engine, outputs: dict[str, Any]) -> Iterator[str]:
    """A valid token with the right scopes, issued by another user pool of the same account and region."""
    with foreign_pool(engine, outputs["Region"]) as (client, token_url):
        yield token_for(engine, token_url, client)


@pytest.fixture(scope="module")
def expired_token(engine: Engine, outputs: dict[str, Any], api: Api) -> Iterator[str]:
    """A token of the stage's pool that the API accepted while it was valid, once it has expired."""
    if outputs["Engine"] == "aws":
        pytest.skip(
            "An expired token needs a 5-minute wait on AWS (Cognito's shortest access-token lifetime); "
            "the emulators prove this row with a 3-second token."
        )
    try:
        with app_client(engine, outputs["UserPoolId"], lifetime=(SHORT_LIFETIME, "seconds")) as client:
            token = token_for(engine, outputs["TokenUrl"], client)
            expires = int(claims(token)["exp"])
            accepted = api.send("GET", api.collection_url + "?limit=1", authorization=f"Bearer {token}")
            assert accepted.status == 200 or time.time() >= expires, accepted
            eventually(
                lambda: time.time() > expires + 1, "the short-lived token to expire", SHORT_LIFETIME + 10
            )
            yield token
    except ClientError as error:
        pytest.skip(f"The engine refuses a {SHORT_LIFETIME}-second token lifetime: {error}")


@pytest.fixture(scope="module")
def bad_authorization(
    engine: Engine, outputs: dict[str, Any], request: pytest.FixtureRequest
) -> Callable[[str, str], str | None]:
    """`bad_authorization(case, method)`: the Authorization header value (None: no header) of each case."""

    def good(*scopes: str) -> str:
        return access_token(engine, outputs, scopes)

    def value(case: str, method: str) -> str | None:
        if case == "no token":
            return None
        if case == "another scheme":
            return f"Basic {good(READ_SCOPE, WRITE_SCOPE)}"
        if case == "not a JWT":
            return "Bearer not.a.jwt"
        if case == "token from another pool":
            return f"Bearer {request.getfixturevalue('foreign_token')}"
        if case == "expired token":
            return f"Bearer {request.getfixturevalue('expired_token')}"
        if case == "tampered signature":
            return f"Bearer {tampered(good(READ_SCOPE, WRITE_SCOPE))}"
        if case == "alg none":
            return f"Bearer {unsigned(good(READ_SCOPE, WRITE_SCOPE))}"
        if case == "wrong scope":
            # A read-only token for the writes, a write-only token for the reads.
            return f"Bearer {good(WRITE_SCOPE if method == 'GET' else READ_SCOPE)}"
        raise AssertionError(case)

    return value


def _product_ids(stack: Stack, product_id: str) -> list[dict[str, Any]]:
    pages = stack.dynamodb.get_paginator("scan").paginate(
        TableName=stack.table_name,
        FilterExpression="ProductId = :p",
        ExpressionAttributeValues={":p": {"S": product_id}},
        ConsistentRead=True,
    )
    return [item for page in pages for item in page.get("Items", [])]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("method", "target"), METHODS, ids=[f"{m} {t}" for m, t in METHODS])
def test_a_caller_without_a_valid_token_for_the_method_is_refused_and_changes_nothing(
    api: Api,
    stack: Stack,
    existing: tuple[str, dict[str, Any]],
    bad_authorization: Callable[[str, str], str | None],
    method: str,
    target: str,
    case: str,
) -> None:
    # Given a stored purchase, and a request a browser page might send, with a bad or missing token
    purchase_id, _ = existing
    before = stack.raw_item(purchase_id)
    marker = f"e2e-refused-{unique_token()}"
    body = make_purchase(ProductId=marker) if method in {"POST", "PUT"} else None
    url = api.collection_url if target == "collection" else api.item_url(purchase_id)

    # When it is sent
    reply = api.send(
        method, url, body, headers={"Origin": ORIGIN}, authorization=bad_authorization(case, method)
    )

    # Then API Gateway refuses it with the API's error shape and CORS headers, before any function runs
    assert reply.status in {401, 403}, (reply.status, reply.body[:300])
    document = reply.json()
    assert isinstance(document.get("message"), str) and document["message"], document
    assert document.get("errors") == [], document
    assert reply.headers.get("access-control-allow-origin") == "*", reply.headers

    # And nothing was queued or stored: the purchase is untouched and the refused body is nowhere
    stack.wait_queue_empty(what="any write to drain")
    assert stack.raw_item(purchase_id) == before
    assert _product_ids(stack, marker) == []


def test_the_development_token_opens_every_method(api: Api) -> None:
    # Given the development client's token (both scopes), as `invoke token` prints it
    # When it creates, lists, reads, replaces and deletes
    purchase_id, _ = api.create_readable()
    assert api.list_page("limit=1").status == 200
    assert api.replace(purchase_id, make_purchase()).status == 202
    assert api.delete(purchase_id).status == 202
    # Then every method accepted it
    api.gone(purchase_id)


def test_a_read_only_token_reads_and_a_write_only_token_writes(
    api: Api, engine: Engine, outputs: dict[str, Any]
) -> None:
    # Given one token per scope
    read = f"Bearer {access_token(engine, outputs, (READ_SCOPE,))}"
    write = f"Bearer {access_token(engine, outputs, (WRITE_SCOPE,))}"
    # When each calls what its scope allows
    created = api.send("POST", api.collection_url, make_purchase(), authorization=write)
    listed = api.send("GET", api.collection_url + "?limit=1", authorization=read)
    # Then both are accepted
    assert created.status == 202, created
    assert listed.status == 200, listed
    api.readable(created.json()["ProductPurchaseId"])
