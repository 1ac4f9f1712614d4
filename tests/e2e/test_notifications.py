"""Real-time notifications, black-box: a client connected to the WebSocket API with a token receives one message
per applied change, in order per purchase, with public fields only; clients without a valid token are refused;
connections that end are forgotten, and a client that is gone never keeps the others from their messages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devkit.core.http import Reply, call
from devkit.engines import Engine
from devkit.stack.auth import READ_SCOPE, READ_WRITE_SCOPES, WRITE_SCOPE, access_token, development_client_id
from devkit.stack.notifications import Listener, handshake_status, of_purchase, socket_url

from .support import BOOKKEEPING_FIELDS, eventually, same_purchase

# How long an accepted write may take to reach a connected client.
NOTIFICATION_DEADLINE = 20.0


class AuthorizedApi:
    """The purchase API with the development client's token on every call."""

    def __init__(self, base_url: str, token: Callable[[], str]) -> None:
        self.collection = base_url.rstrip("/")
        self._token = token

    def _call(self, method: str, url: str, body: Any = None) -> Reply:
        return call(method, url, body, headers={"Authorization": f"Bearer {self._token()}"})

    def create(self, body: dict[str, Any]) -> str:
        reply = self._call("POST", self.collection, body)
        assert reply.status == 202, reply.body[:300]
        purchase_id: str = reply.json()["ProductPurchaseId"]
        return purchase_id

    def replace(self, purchase_id: str, body: dict[str, Any]) -> None:
        reply = self._call("PUT", f"{self.collection}/{purchase_id}", body)
        assert reply.status == 202, reply.body[:300]

    def delete(self, purchase_id: str) -> None:
        reply = self._call("DELETE", f"{self.collection}/{purchase_id}")
        assert reply.status == 202, reply.body[:300]


@pytest.fixture(scope="module")
def authorized(outputs: dict[str, Any], engine: Engine) -> AuthorizedApi:
    return AuthorizedApi(
        outputs["ProductPurchaseApi"], lambda: access_token(engine, outputs, READ_WRITE_SCOPES)
    )


@pytest.fixture
def listener(outputs: dict[str, Any], engine: Engine) -> Iterator[Listener]:
    with Listener(socket_url(engine, outputs)) as connected:
        yield connected


def _types(messages: list[dict[str, Any]]) -> list[str]:
    return [str(message["type"]) for message in messages]


def _connection_ids(aws_client: Callable[[str], Any], table: str) -> set[str]:
    paginator = aws_client("dynamodb").get_paginator("scan")
    return {
        item["ConnectionId"]["S"] for page in paginator.paginate(TableName=table) for item in page["Items"]
    }


def test_create_update_delete_arrive_in_order_with_public_fields_only(
    listener: Listener, authorized: AuthorizedApi, new_purchase: Callable[..., dict[str, Any]]
) -> None:
    # Given a client connected with a read token
    # When a purchase is created, replaced and deleted through the API
    created = new_purchase()
    purchase_id = authorized.create(created)
    listener.wait_for(
        lambda got: bool(of_purchase(got, purchase_id)),
        timeout=NOTIFICATION_DEADLINE,
        what="purchase.created",
    )
    replaced = new_purchase(ProductName="Wide belt", Quantity="3", TotalPrice="31.5")
    authorized.replace(purchase_id, replaced)
    listener.wait_for(
        lambda got: len(of_purchase(got, purchase_id)) >= 2, timeout=NOTIFICATION_DEADLINE, what="update"
    )
    authorized.delete(purchase_id)
    listener.wait_for(
        lambda got: len(of_purchase(got, purchase_id)) >= 3, timeout=NOTIFICATION_DEADLINE, what="delete"
    )

    # Then it received exactly one message per change, in order
    messages = of_purchase(listener.received, purchase_id)
    assert _types(messages) == ["purchase.created", "purchase.updated", "purchase.deleted"], messages
    # And each carries the purchase as a read returns it (no bookkeeping), except the delete, which has none
    assert same_purchase(messages[0]["purchase"], created), messages[0]
    assert same_purchase(messages[1]["purchase"], replaced), messages[1]
    assert messages[0]["purchase"]["ProductPurchaseId"] == purchase_id
    assert "purchase" not in messages[2]
    for message in messages:
        assert set(message) <= {"type", "ProductPurchaseId", "purchase"}, message
        assert not BOOKKEEPING_FIELDS & set(message.get("purchase", {})), message


def test_a_burst_of_updates_arrives_in_the_order_it_was_accepted(
    listener: Listener, authorized: AuthorizedApi, new_purchase: Callable[..., dict[str, Any]]
) -> None:
    # Given a purchase the client has seen created
    purchase_id = authorized.create(new_purchase(Quantity="1", TotalPrice=None))
    listener.wait_for(
        lambda got: bool(of_purchase(got, purchase_id)), timeout=NOTIFICATION_DEADLINE, what="the create"
    )
    # When five replacements are accepted back to back
    quantities = [2, 3, 4, 5, 6]
    for quantity in quantities:
        authorized.replace(purchase_id, new_purchase(Quantity=str(quantity), TotalPrice=None))

    # Then the updates the client receives end with the last one accepted
    def final_seen(got: list[Any]) -> bool:
        updates = [m for m in of_purchase(got, purchase_id) if m["type"] == "purchase.updated"]
        return bool(updates) and updates[-1]["purchase"]["Quantity"] == quantities[-1]

    listener.wait_for(final_seen, timeout=NOTIFICATION_DEADLINE, what="the last update")
    # And they come in the order they were accepted (a superseded write may be skipped, never reordered)
    seen = [
        int(Decimal(str(m["purchase"]["Quantity"])))
        for m in of_purchase(listener.received, purchase_id)
        if m["type"] == "purchase.updated"
    ]
    assert seen == sorted(seen) and len(set(seen)) == len(seen), seen
    assert set(seen) <= set(quantities), seen


def test_every_connection_of_the_owner_receives_the_change(
    outputs: dict[str, Any],
    engine: Engine,
    listener: Listener,
    authorized: AuthorizedApi,
    new_purchase: Callable[..., dict[str, Any]],
) -> None:
    # Given a second connection of the same client beside the first
    with Listener(socket_url(engine, outputs)) as second:
        # When a purchase is created
        purchase_id = authorized.create(new_purchase())
        # Then both receive it
        for client in (listener, second):
            client.wait_for(
                lambda got: bool(of_purchase(got, purchase_id)), timeout=NOTIFICATION_DEADLINE, what="create"
            )


def test_connections_without_a_valid_read_token_are_refused(outputs: dict[str, Any], engine: Engine) -> None:
    base = outputs["WebSocketUrl"]
    # A token signed by a key that is not the pool's, with every claim the pool's tokens have
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    real_claims = jwt.decode(access_token(engine, outputs, [READ_SCOPE]), options={"verify_signature": False})
    real_header = jwt.get_unverified_header(access_token(engine, outputs, [READ_SCOPE]))
    forged = jwt.encode(
        {**real_claims, "exp": int(time.time()) + 600},
        forger,
        algorithm="RS256",
        headers={"kid": real_header["kid"]},
    )
    expired = jwt.encode({**real_claims, "exp": int(time.time()) - 60}, forger, algorithm="RS256")
    refused = {
        "no token": base,
        "empty token": socket_url(engine, outputs, token=""),
        "garbage": socket_url(engine, outputs, token="not-a-jwt"),
        "forged signature": socket_url(engine, outputs, token=forged),
        "expired and forged": socket_url(engine, outputs, token=expired),
        "write scope only": socket_url(engine, outputs, token=access_token(engine, outputs, [WRITE_SCOPE])),
    }
    # Then each handshake is answered 401 or 403, never admitted and never a server error
    statuses = {name: handshake_status(url) for name, url in refused.items()}
    assert all(status in {401, 403} for status in statuses.values()), statuses
    # While the pool's own read token is admitted
    assert handshake_status(socket_url(engine, outputs)) == 101


def test_a_closed_connection_is_forgotten(
    outputs: dict[str, Any], engine: Engine, aws_client: Callable[[str], Any]
) -> None:
    table = outputs["ConnectionTableName"]
    before = _connection_ids(aws_client, table)
    # Given a client that connected
    client = Listener(socket_url(engine, outputs))
    mine = eventually(lambda: (_connection_ids(aws_client, table) - before) or None, "the connection record")
    # When it disconnects
    client.close()
    # Then its record is removed
    eventually(lambda: not (mine & _connection_ids(aws_client, table)), "the connection record to be removed")


def test_a_gone_client_is_removed_and_never_blocks_the_others(
    outputs: dict[str, Any],
    aws_client: Callable[[str], Any],
    listener: Listener,
    authorized: AuthorizedApi,
    new_purchase: Callable[..., dict[str, Any]],
) -> None:
    # Given a connection record of the development client whose socket is long gone (its $disconnect was lost)
    table = outputs["ConnectionTableName"]
    ghost = f"ghost{uuid.uuid4().hex[:11]}"
    in_an_hour = str(int(time.time()) + 3600)
    aws_client("dynamodb").put_item(
        TableName=table,
        Item={
            "ConnectionId": {"S": ghost},
            "ClientId": {"S": development_client_id(outputs)},
            "Admin": {"BOOL": False},
            "TokenExpiresAt": {"N": in_an_hour},
            "ExpiresAt": {"N": in_an_hour},
        },
    )
    # When a change is pushed
    purchase_id = authorized.create(new_purchase())
    # Then the live client still receives it
    listener.wait_for(
        lambda got: bool(of_purchase(got, purchase_id)), timeout=NOTIFICATION_DEADLINE, what="the create"
    )
    # And the gone client's record is removed (API Gateway answered GoneException)
    eventually(lambda: ghost not in _connection_ids(aws_client, table), "the gone connection to be forgotten")
