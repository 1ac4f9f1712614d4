"""`invoke backfill-owners` (devkit.stack.owners) and `invoke consumer`'s scopes (devkit.stack.consumers, devkit.stack.auth), on moto."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devkit.core.project import ToolingError
from devkit.stack import auth, consumers
from devkit.stack.owners import backfill_owners
from purchases.adapters.dynamodb import CLIENT_ID, LISTED, LISTED_FOR, DynamoDbPurchaseStore
from purchases.messages import WriteAction, WriteMessage
from purchases.rules import parse_purchase

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class FakeCognito:
    """The few Cognito calls devkit makes, over a dict of app clients (moto's Cognito needs extra packages)."""

    def __init__(self) -> None:
        self.clients: dict[str, dict[str, Any]] = {}

    def create_user_pool_client(self, UserPoolId: str, ClientName: str, **settings: Any) -> dict[str, Any]:
        client_id = f"client{len(self.clients):020d}"
        self.clients[client_id] = {"ClientId": client_id, "ClientName": ClientName, **settings}
        return {"UserPoolClient": self.clients[client_id]}

    def describe_user_pool_client(self, UserPoolId: str, ClientId: str) -> dict[str, Any]:
        if ClientId not in self.clients:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "DescribeUserPoolClient")
        return {"UserPoolClient": self.clients[ClientId]}

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_user_pool_clients"
        clients = list(self.clients.values())

        class Pages:
            def paginate(self, UserPoolId: str) -> list[dict[str, Any]]:
                return [{"UserPoolClients": clients}]

        return Pages()


class FakeEngine:
    """The engine as devkit sees it: a name and clients (DynamoDB: moto's)."""

    name = "fake"

    def __init__(self) -> None:
        self.cognito = FakeCognito()

    def client(self, service: str) -> Any:
        if service == "cognito-idp":
            return self.cognito
        assert service == "dynamodb"
        return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def engine(mocked_aws: None) -> FakeEngine:
    return FakeEngine()


POOL = "us-east-1_unittest"


def app_client(engine: FakeEngine, name: str) -> str:
    client_id: str = engine.cognito.create_user_pool_client(UserPoolId=POOL, ClientName=name)[
        "UserPoolClient"
    ]["ClientId"]
    return client_id


def purchase_id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def write(
    action: WriteAction, number: int, document: dict[str, Any] | None, owner: str | None, stamp: int = 1
) -> WriteMessage:
    purchase = parse_purchase(document) if document is not None else None
    return WriteMessage(action, purchase_id(number), purchase, stamp, "r", owner, owner)


def item(table: Table, number: int) -> dict[str, Any]:
    return dict(table.get_item(Key={"ProductPurchaseId": purchase_id(number)})["Item"])


# --- backfill ----------------------------------------------------------------------------------------


def test_the_backfill_owns_and_lists_what_lacks_an_owner_and_never_overwrites_one(
    engine: FakeEngine,
    dynamodb_table: Table,
    dynamodb_store: DynamoDbPurchaseStore,
    purchase_document: dict[str, Any],
) -> None:
    # Given an ownerless live purchase and an ownerless tombstone (stored before owners were kept), a live one whose
    # owner predates the per-owner list, and a current one of another client
    owner = app_client(engine, "legacy-owner")
    dynamodb_store.apply_write(write(WriteAction.CREATE, 1, purchase_document, None))
    dynamodb_store.apply_write(write(WriteAction.CREATE, 2, purchase_document, None))
    dynamodb_store.apply_write(write(WriteAction.DELETE, 2, None, None, stamp=2))
    dynamodb_store.apply_write(write(WriteAction.CREATE, 3, purchase_document, "earlier-writer"))
    dynamodb_table.update_item(
        Key={"ProductPurchaseId": purchase_id(3)},
        UpdateExpression="REMOVE #listed_for",
        ExpressionAttributeNames={"#listed_for": LISTED_FOR},
    )
    dynamodb_store.apply_write(write(WriteAction.CREATE, 4, purchase_document, "current-client"))
    outputs = {"TableName": dynamodb_table.name, "UserPoolId": POOL}

    # When the backfill runs (twice: it is safe to repeat)
    first = backfill_owners(engine, outputs, owner)  # type: ignore[arg-type]
    second = backfill_owners(engine, outputs, owner)  # type: ignore[arg-type]

    # Then the ownerless purchases are the owner's, the live one in its list, the tombstone in none
    assert (first.scanned, first.owned, first.listed, first.unchanged) == (4, 2, 1, 1)
    assert (second.scanned, second.owned, second.listed, second.unchanged) == (4, 0, 0, 4)
    assert item(dynamodb_table, 1)[CLIENT_ID] == item(dynamodb_table, 1)[LISTED_FOR] == owner
    assert item(dynamodb_table, 2)[CLIENT_ID] == owner and LISTED_FOR not in item(dynamodb_table, 2)
    assert LISTED not in item(dynamodb_table, 2)
    # And an existing owner is kept, and listed for
    assert item(dynamodb_table, 3)[CLIENT_ID] == item(dynamodb_table, 3)[LISTED_FOR] == "earlier-writer"
    assert item(dynamodb_table, 4)[CLIENT_ID] == "current-client"
    assert [listed["ProductPurchaseId"] for listed in dynamodb_store.owned_page(owner, 10, None).items] == [
        purchase_id(1)
    ]


@pytest.mark.parametrize("owner", ["no-such-client0000000000000", "", "has spaces", "x" * 129])
def test_an_owner_that_is_not_an_app_client_of_the_pool_is_refused_before_anything_is_written(
    engine: FakeEngine,
    dynamodb_table: Table,
    dynamodb_store: DynamoDbPurchaseStore,
    purchase_document: dict[str, Any],
    owner: str,
) -> None:
    dynamodb_store.apply_write(write(WriteAction.CREATE, 1, purchase_document, None))
    before = item(dynamodb_table, 1)
    with pytest.raises(ToolingError, match="--owner"):
        backfill_owners(engine, {"TableName": dynamodb_table.name, "UserPoolId": POOL}, owner)  # type: ignore[arg-type]
    assert item(dynamodb_table, 1) == before


# --- consumers' scopes -------------------------------------------------------------------------------


def test_a_new_consumer_reads_only_unless_given_more(engine: FakeEngine) -> None:
    outputs = {"UserPoolId": POOL, "AccessTokenMinutes": 60}
    reader = consumers.create_consumer(engine, outputs, "reporting")  # type: ignore[arg-type]
    writer = consumers.create_consumer(
        engine,  # type: ignore[arg-type]
        outputs,
        "orders",
        auth.parse_scopes("purchases/read,purchases/write", default=(auth.READ_SCOPE,)),
    )
    assert reader.scopes == ("purchases/read",)
    assert sorted(writer.scopes) == ["purchases/read", "purchases/write"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("purchases/admin", "add one or both"),
        ("purchases/delete", "Unknown scope"),
        ("read", "Unknown scope"),
    ],
)
def test_scopes_that_grant_nothing_or_do_not_exist_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ToolingError, match=problem):
        auth.parse_scopes(text)


def test_the_admin_scope_is_given_only_when_asked_for() -> None:
    assert auth.ADMIN_SCOPE not in auth.parse_scopes("")
    assert auth.parse_scopes("purchases/read purchases/admin") == ("purchases/read", "purchases/admin")
