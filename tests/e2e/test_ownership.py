"""Each caller sees and changes only its own purchases; a token with purchases/admin sees and changes all, and an
administrator's change keeps the purchase's owner. Two clients: the development client (A, the `api` fixture) and
an app client made here (B); the administrator is the development client asking for the admin scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devkit.engines import Engine
from devkit.stack.auth import ADMIN_SCOPE, READ_SCOPE, READ_WRITE_SCOPES, WRITE_SCOPE, access_token

from .auth_tokens import app_client, claims, token_for
from .support import Api, Stack, eventually

NOT_FOUND = {"message": "Purchase not found", "errors": []}


@pytest.fixture(scope="module")
def other_api(engine: Engine, outputs: dict[str, Any], api_url: str) -> Iterator[Api]:
    """Client B: another app client of the stage's user pool with read and write, removed afterwards."""
    with app_client(engine, outputs["UserPoolId"], scopes=READ_WRITE_SCOPES) as client:
        token = token_for(engine, outputs["TokenUrl"], client)
        yield Api(api_url, lambda: {"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def admin_api(engine: Engine, outputs: dict[str, Any], api_url: str) -> Api:
    """The development client with the admin scope, which it gets only when it asks for it."""
    scopes = (READ_SCOPE, WRITE_SCOPE, ADMIN_SCOPE)
    return Api(api_url, lambda: {"Authorization": f"Bearer {access_token(engine, outputs, scopes)}"})


def test_the_development_token_carries_no_admin_scope_unless_asked(api: Api, admin_api: Api) -> None:
    def scopes(client: Api) -> set[str]:
        return set(claims(client.credentials()["Authorization"].split(" ", 1)[1])["scope"].split())

    assert ADMIN_SCOPE not in scopes(api)
    assert ADMIN_SCOPE in scopes(admin_api)


def test_another_client_can_neither_see_nor_change_a_purchase(
    api: Api, other_api: Api, quiet_queue: Stack, new_purchase: Callable[..., dict[str, Any]]
) -> None:
    # Given a purchase created by client A
    purchase_id, _ = api.create_readable()
    stored = quiet_queue.raw_item(purchase_id)
    assert stored is not None and stored["ClientId"] == api.client_id() != other_api.client_id()

    # When client B reads, replaces and deletes it
    replies = [
        other_api.get(purchase_id),
        other_api.replace(purchase_id, new_purchase()),
        other_api.delete(purchase_id),
    ]

    # Then each answer is the one a missing purchase gets
    assert [(reply.status, reply.json()) for reply in replies] == [(404, NOT_FOUND)] * 3
    # And nothing was queued or changed, and A still reads its purchase as sent
    quiet_queue.wait_queue_empty()
    assert quiet_queue.raw_item(purchase_id) == stored
    assert api.get(purchase_id).status == 200
    # And B's list lacks it while A's holds it
    assert purchase_id not in other_api.all_ids()
    api.listed_when(lambda ids: purchase_id in ids, "A's purchase in A's list")


def test_each_client_lists_its_own_purchases_only(api: Api, other_api: Api) -> None:
    # Given a purchase of each client
    mine, _ = api.create_readable()
    theirs, _ = other_api.create_readable()

    # Then each list holds its own and not the other's
    my_ids = api.listed_when(lambda ids: mine in ids, "A's purchase in A's list")
    their_ids = other_api.listed_when(lambda ids: theirs in ids, "B's purchase in B's list")
    assert theirs not in my_ids
    assert mine not in their_ids
    # And B cannot read A's purchase, nor A B's
    assert api.get(theirs).status == other_api.get(mine).status == 404


def test_an_administrator_sees_and_changes_every_purchase_and_the_owner_stays(
    api: Api,
    other_api: Api,
    admin_api: Api,
    stack: Stack,
    new_purchase: Callable[..., dict[str, Any]],
) -> None:
    # Given a purchase of client B
    purchase_id, _ = other_api.create_readable()
    owner = other_api.client_id()

    # Then the administrator lists and reads it
    admin_api.listed_when(lambda ids: purchase_id in ids, "B's purchase in the administrator's list")
    assert admin_api.get(purchase_id).status == 200

    # When the administrator replaces it
    replacement = new_purchase(ProductName="Replaced by an administrator")
    reply = admin_api.replace(purchase_id, replacement)
    assert reply.status == 202, reply.body

    # Then B reads the new purchase, and B still owns it (A still cannot see it)
    other_api.reads_as(
        purchase_id, lambda body: body["ProductName"] == "Replaced by an administrator", "the admin's update"
    )
    assert (stack.raw_item(purchase_id) or {}).get("ClientId") == owner
    assert api.get(purchase_id).status == 404
    assert purchase_id in other_api.all_ids()

    # When the administrator deletes it, then it is gone for B too, and the tombstone keeps the owner
    assert admin_api.delete(purchase_id).status == 202
    other_api.gone(purchase_id)
    tombstone = eventually(
        lambda: item if (item := stack.raw_item(purchase_id)) and item.get("Deleted") else None,
        "the tombstone",
    )
    assert tombstone["ClientId"] == owner
