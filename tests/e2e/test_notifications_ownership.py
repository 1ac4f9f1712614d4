"""Notifications by ownership, black-box with two app clients: the development client (A) and a consumer made
for the test (B). A's change reaches A's connection and not B's; a client holds at most MaxConnectionsPerClient
connections; the connection of a client removed from the pool is closed by the notifier on its next change."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devkit.core.http import call
from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack.auth import READ_SCOPE, WRITE_SCOPE, access_token
from devkit.stack.consumers import Consumer, create_consumer, remove_consumer
from devkit.stack.notifications import Listener, handshake_status, of_purchase, socket_url

from .support import eventually, unique_token
from .test_notifications import NOTIFICATION_DEADLINE, AuthorizedApi

# What a refused handshake may be answered with: the limit's 429 (API Gateway passes the $connect route's status)
# or 403 (an engine that refuses every failed $connect alike).
REFUSED = {403, 429}


@pytest.fixture
def consumer(outputs: dict[str, Any], engine: Engine) -> Iterator[Consumer]:
    """Client B: an app client of the stack's pool with both scopes, removed afterwards."""
    made = create_consumer(engine, outputs, f"e2e-{unique_token()}", [READ_SCOPE, WRITE_SCOPE])
    try:
        yield made
    finally:
        with contextlib.suppress(ToolingError):
            remove_consumer(engine, outputs, made.client_id)


def _socket_of(engine: Engine, outputs: dict[str, Any], client: Consumer) -> str:
    return socket_url(
        engine, outputs, token=access_token(engine, outputs, [READ_SCOPE], client_id=client.client_id)
    )


def _api_of(engine: Engine, outputs: dict[str, Any], client: Consumer) -> AuthorizedApi:
    return AuthorizedApi(
        outputs["ProductPurchaseApi"],
        lambda: access_token(engine, outputs, [READ_SCOPE, WRITE_SCOPE], client_id=client.client_id),
    )


def _created(listener: Listener, purchase_id: str, what: str) -> None:
    listener.wait_for(
        lambda got: bool(of_purchase(got, purchase_id)), timeout=NOTIFICATION_DEADLINE, what=what
    )


def test_a_change_reaches_its_owners_connection_and_not_another_clients(
    outputs: dict[str, Any], engine: Engine, consumer: Consumer, new_purchase: Callable[..., dict[str, Any]]
) -> None:
    api_a = AuthorizedApi(
        outputs["ProductPurchaseApi"], lambda: access_token(engine, outputs, [READ_SCOPE, WRITE_SCOPE])
    )
    api_b = _api_of(engine, outputs, consumer)
    # Given A (the development client) and B each connected with a read token
    with (
        Listener(socket_url(engine, outputs)) as socket_a,
        Listener(_socket_of(engine, outputs, consumer)) as socket_b,
    ):
        # When A creates a purchase
        mine = api_a.create(new_purchase())
        # Then A's connection receives it
        _created(socket_a, mine, "A's create on A's socket")
        # And once B's own later change has reached B, B has received nothing of A's
        theirs = api_b.create(new_purchase())
        _created(socket_b, theirs, "B's create on B's socket")
        assert of_purchase(socket_b.received, mine) == [], socket_b.received
        assert all(item.message.get("ProductPurchaseId") != mine for item in socket_b.received)


def test_the_connection_past_the_clients_limit_is_refused(
    outputs: dict[str, Any], engine: Engine, consumer: Consumer
) -> None:
    limit = int(outputs["MaxConnectionsPerClient"])
    url = _socket_of(engine, outputs, consumer)
    with contextlib.ExitStack() as open_sockets:
        # Given a client holding as many connections as it may
        sockets = [open_sockets.enter_context(Listener(url)) for _ in range(limit)]
        # When it opens one more, Then the handshake is refused
        assert handshake_status(url) in REFUSED
        # And once one of its connections closes, it may open another
        sockets[0].close()
        eventually(
            lambda: handshake_status(url) == 101 or None, "a connection under the limit to be admitted"
        )


def test_a_removed_clients_connection_is_closed_on_its_next_change(
    outputs: dict[str, Any], engine: Engine, consumer: Consumer, new_purchase: Callable[..., dict[str, Any]]
) -> None:
    # Given client B connected, with a write token issued before it is removed
    write_token = access_token(engine, outputs, [READ_SCOPE, WRITE_SCOPE], client_id=consumer.client_id)
    with Listener(_socket_of(engine, outputs, consumer)) as socket_b:
        # When B is removed from the pool and a change of its own purchase is applied (its token lives on)
        remove_consumer(engine, outputs, consumer.client_id)
        reply = call(
            "POST",
            outputs["ProductPurchaseApi"].rstrip("/"),
            new_purchase(),
            headers={"Authorization": f"Bearer {write_token}"},
        )
        assert reply.status == 202, reply.body[:300]
        purchase_id = reply.json()["ProductPurchaseId"]
        # Then the notifier closes B's connection instead of pushing the change to it
        eventually(lambda: (not socket_b.open) or None, "the removed client's connection to be closed")
        socket_b.next(timeout=0.1)
        assert of_purchase(socket_b.received, purchase_id) == [], socket_b.received
