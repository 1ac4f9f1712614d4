"""The WebSocket adapters against moto: connection records as the template shapes their table (the per-client
index included), the count of a client's live connections, and the user pool's answer for a removed client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from conftest import table_from_template

from purchases.adapters.connections import CognitoClientDirectory, DynamoDbConnectionStore
from purchases.notifications import Connection

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

NOW = 1_900_000_000


@pytest.fixture
def table(dynamodb_resource: DynamoDBServiceResource) -> Iterator[Table]:
    created = table_from_template(dynamodb_resource, "ConnectionTable", "unit-test-connections")
    yield created
    created.delete()


def test_given_connections_then_each_is_read_back_with_its_owner_and_counted_per_client(table: Table) -> None:
    store = DynamoDbConnectionStore(lambda: table, clock=lambda: NOW)
    # Given two connections of A (one whose token has expired), one admin connection of B
    store.remember(Connection("a1", "A", False, NOW + 600), connected_at_ms=NOW * 1000)
    store.remember(Connection("a2", "A", False, NOW - 1), connected_at_ms=NOW * 1000)
    store.remember(Connection("b1", "B", True, NOW + 600), connected_at_ms=NOW * 1000)
    # And a record written without an owner (by hand, or by an older $connect)
    table.put_item(Item={"ConnectionId": "legacy", "ExpiresAt": NOW + 600})

    # Then every record is read back as the connection it describes; the ownerless one as expired
    assert sorted(store.connections(), key=lambda c: c.connection_id) == [
        Connection("a1", "A", False, NOW + 600),
        Connection("a2", "A", False, NOW - 1),
        Connection("b1", "B", True, NOW + 600),
        Connection("legacy", "", False, 0),
    ]
    # And only the live connections with an unexpired token count against their client's limit
    assert store.live_connection_count("A", NOW) == 1
    assert store.live_connection_count("B", NOW) == 1
    assert store.live_connection_count("nobody", NOW) == 0
    # And a forgotten connection no longer counts
    store.forget("a1")
    assert store.live_connection_count("A", NOW) == 0


def test_given_a_user_pool_then_a_removed_client_is_told_apart_from_a_present_one() -> None:
    # Cognito's own answers, stubbed (moto's Cognito needs an extra dependency for its tokens)
    cognito = boto3.client(
        "cognito-idp", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    pool = "us-east-1_Pool"
    with Stubber(cognito) as stub:
        stub.add_response(
            "describe_user_pool_client",
            {"UserPoolClient": {"UserPoolId": pool, "ClientId": "present"}},
            {"UserPoolId": pool, "ClientId": "present"},
        )
        stub.add_client_error(
            "describe_user_pool_client",
            service_error_code="ResourceNotFoundException",
            http_status_code=400,
            expected_params={"UserPoolId": pool, "ClientId": "removed"},
        )
        stub.add_client_error(
            "describe_user_pool_client", service_error_code="TooManyRequestsException", http_status_code=400
        )
        directory = CognitoClientDirectory(lambda: cognito, pool)

        assert directory.exists("present") is True
        assert directory.exists("removed") is False
        # Anything else is not an answer: the caller skips the client rather than closing its connections
        with pytest.raises(ClientError):
            directory.exists("throttled")
