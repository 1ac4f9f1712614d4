"""The WebSocket adapters against moto: connection records as the template shapes their table (its client and
admin indexes included), a batch's recipients read by index, a client's leases under the connection limit, and
the user pool's clients listed (ids only) page by page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from conftest import table_from_template

from purchases.adapters.connections import LEASES, CognitoClientDirectory, DynamoDbConnectionStore
from purchases.notifications import Connection

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

NOW = 1_900_000_000
NOW_MS = NOW * 1000


@pytest.fixture
def table(dynamodb_resource: DynamoDBServiceResource) -> Iterator[Table]:
    created = table_from_template(dynamodb_resource, "ConnectionTable", "unit-test-connections")
    yield created
    created.delete()


@pytest.fixture
def leases(dynamodb_resource: DynamoDBServiceResource) -> Iterator[Table]:
    created = table_from_template(dynamodb_resource, "ConnectionLeaseTable", "unit-test-leases")
    yield created
    created.delete()


@pytest.fixture
def store(table: Table, leases: Table) -> DynamoDbConnectionStore:
    return DynamoDbConnectionStore(lambda: table, lambda: leases, clock=lambda: NOW)


def _leases_of(leases: Table, client_id: str) -> set[str]:
    held = leases.get_item(Key={"ClientId": client_id})["Item"][LEASES]
    assert isinstance(held, dict)
    return set(held)


def _ids(connections: list[Connection]) -> list[str]:
    return sorted(connection.connection_id for connection in connections)


def test_given_connections_then_a_batch_reads_only_its_owners_and_the_admins_by_index(
    store: DynamoDbConnectionStore, table: Table
) -> None:
    # Given connections of A, of B, of C (an admin), one of A whose token has expired, and one whose record is
    # past its lifetime (a lost $disconnect that TTL has not deleted yet)
    for connection in (
        Connection("a1", "A", False, NOW + 600),
        Connection("a2", "A", False, NOW - 1),
        Connection("b1", "B", False, NOW + 600),
        Connection("c1", "C", True, NOW + 600),
    ):
        assert store.claim(connection, limit=5, now=NOW - 10, connected_at_ms=NOW_MS)
    table.put_item(
        Item={
            "ConnectionId": "dead",
            "ClientId": "A",
            "Admin": False,
            "TokenExpiresAt": NOW + 600,
            "ExpiresAt": NOW - 5,
        }
    )
    # When the recipients of a change of A's are read
    recipients = store.recipients({"A"})
    # Then they are A's connections (the expired token too: the notifier closes it) and the admin's, read back as
    # they were recorded; B's and the dead record are not read
    assert sorted(recipients, key=lambda c: c.connection_id) == [
        Connection("a1", "A", False, NOW + 600),
        Connection("a2", "A", False, NOW - 1),
        Connection("c1", "C", True, NOW + 600),
    ]
    # And an admin's own change reaches its connection once, as an admin
    assert store.recipients({"C"}) == [Connection("c1", "C", True, NOW + 600)]
    # And a change nobody's connected for reaches the admins only
    assert _ids(store.recipients({"nobody"})) == ["c1"]


def test_given_every_record_then_the_sweep_reads_them_all_the_dead_and_ownerless_as_expired(
    store: DynamoDbConnectionStore, table: Table
) -> None:
    assert store.claim(Connection("a1", "A", False, NOW + 600), limit=5, now=NOW, connected_at_ms=NOW_MS)
    table.put_item(Item={"ConnectionId": "legacy", "ExpiresAt": NOW + 600})
    table.put_item(
        Item={
            "ConnectionId": "dead",
            "ClientId": "A",
            "Admin": False,
            "TokenExpiresAt": NOW + 600,
            "ExpiresAt": NOW - 5,
        }
    )
    assert sorted(store.every_connection(), key=lambda c: c.connection_id) == [
        Connection("a1", "A", False, NOW + 600),
        Connection("dead", "A", False, NOW - 5),
        Connection("legacy", "", False, 0),
    ]


def test_given_a_client_at_its_limit_then_a_claim_is_refused_until_a_lease_ends_or_is_given_back(
    store: DynamoDbConnectionStore, table: Table, leases: Table
) -> None:
    # Given a client holding two places of two: one until NOW + 600, one whose token ends at NOW + 100
    assert store.claim(Connection("a1", "A", False, NOW + 600), limit=2, now=NOW, connected_at_ms=NOW_MS)
    assert store.claim(Connection("a2", "A", False, NOW + 100), limit=2, now=NOW, connected_at_ms=NOW_MS)
    # When a third connects, Then it is refused and nothing is recorded for it
    assert not store.claim(Connection("a3", "A", False, NOW + 600), limit=2, now=NOW, connected_at_ms=NOW_MS)
    assert "Item" not in table.get_item(Key={"ConnectionId": "a3"})
    assert _leases_of(leases, "A") == {"a1", "a2"}
    # And once a2's token has ended (its $disconnect lost), its place is free again without anyone forgetting it
    assert store.claim(
        Connection("a3", "A", False, NOW + 900), limit=2, now=NOW + 100, connected_at_ms=NOW_MS
    )
    assert _leases_of(leases, "A") == {"a1", "a3"}
    # And a forgotten connection gives its place back, once: a second forget of it releases nothing more
    store.forget("a1")
    store.forget("a1")
    assert _leases_of(leases, "A") == {"a3"}
    assert "Item" not in table.get_item(Key={"ConnectionId": "a1"})
    # While another client's places are its own
    assert store.claim(Connection("b1", "B", False, NOW + 600), limit=2, now=NOW, connected_at_ms=NOW_MS)


def test_given_the_leases_cannot_be_written_then_the_record_is_removed_and_the_error_raised(
    table: Table,
) -> None:
    class Unwritable:
        def update_item(self, **_: object) -> None:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "UpdateItem")

    store = DynamoDbConnectionStore(lambda: table, lambda: Unwritable(), clock=lambda: NOW)  # type: ignore[arg-type,return-value]
    with pytest.raises(ClientError):
        store.claim(Connection("a1", "A", False, NOW + 600), limit=1, now=NOW, connected_at_ms=NOW_MS)
    assert "Item" not in table.get_item(Key={"ConnectionId": "a1"})


def test_given_a_user_pool_then_its_clients_are_listed_page_by_page_with_no_secret_returning_call() -> None:
    # Cognito's own answers, stubbed (moto's Cognito needs an extra dependency for its tokens)
    cognito = boto3.client(
        "cognito-idp", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    pool = "us-east-1_Pool"
    with Stubber(cognito) as stub:
        stub.add_response(
            "list_user_pool_clients",
            {
                "UserPoolClients": [{"ClientId": "one", "UserPoolId": pool, "ClientName": "a"}],
                "NextToken": "p2",
            },
            {"UserPoolId": pool, "MaxResults": 60},
        )
        stub.add_response(
            "list_user_pool_clients",
            {"UserPoolClients": [{"ClientId": "two", "UserPoolId": pool, "ClientName": "b"}]},
            {"UserPoolId": pool, "MaxResults": 60, "NextToken": "p2"},
        )
        stub.add_client_error("list_user_pool_clients", service_error_code="TooManyRequestsException")
        directory = CognitoClientDirectory(lambda: cognito, pool)

        assert directory.present_clients() == {"one", "two"}
        # Anything else is not an answer: the caller skips or waits rather than closing connections
        with pytest.raises(ClientError):
            directory.present_clients()
