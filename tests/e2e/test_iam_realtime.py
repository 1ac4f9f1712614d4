"""Least privilege of the WebSocket side, shown on the engine with IAM enforced: each of the four functions'
roles can make exactly the calls its function needs (the notifier reads a batch's recipients by index, forgets
connections and gives their leases back, pushes to and closes connections of its own API and lists app clients;
the sweeper scans, closes and forgets connections and lists app clients; the connections function records and
forgets connections and takes and gives back leases; the authorizer touches nothing) and is refused the rest. No
role may call DescribeUserPoolClient, which returns client secrets. Skipped on AWS, where the roles trust only
Lambda (the template unit test checks the policies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devkit.engines import Engine

from .support import unique_token

ROLE_OUTPUTS = {
    "notifier": "NotifierRoleArn",
    "connections": "ConnectionsRoleArn",
    "authorizer": "AuthorizerRoleArn",
    "sweeper": "SweeperRoleArn",
}
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "ForbiddenException"})
# What an authorized probe may hear back: success, or the service refusing the deliberately impossible request.
AUTHORIZED = frozenset({None, "ConditionalCheckFailedException", "GoneException"})

Probe = Callable[[Callable[[str], Any], dict[str, Any]], Any]


def _absent(outputs: dict[str, Any]) -> dict[str, Any]:
    return {"ConnectionId": {"S": f"iam-{unique_token()}"}}


PROBES: dict[str, Probe] = {
    "scan connections": lambda client, o: client("dynamodb").scan(
        TableName=o["ConnectionTableName"], Limit=1
    ),
    "record a connection": lambda client, o: client("dynamodb").put_item(
        TableName=o["ConnectionTableName"],
        Item=_absent(o),
        ConditionExpression="attribute_exists(ConnectionId)",
    ),
    "forget a connection": lambda client, o: client("dynamodb").delete_item(
        TableName=o["ConnectionTableName"],
        Key=_absent(o),
        ConditionExpression="attribute_exists(ConnectionId)",
    ),
    "push to a connection": lambda client, o: client("apigatewaymanagementapi").post_to_connection(
        ConnectionId=f"nobody{unique_token()[:10]}", Data=b"{}"
    ),
    "close a connection": lambda client, o: client("apigatewaymanagementapi").delete_connection(
        ConnectionId=f"nobody{unique_token()[:10]}"
    ),
    "read a client's connections": lambda client, o: client("dynamodb").query(
        TableName=o["ConnectionTableName"],
        IndexName="ClientConnections",
        KeyConditionExpression="ClientId = :client",
        ExpressionAttributeValues={":client": {"S": f"nobody-{unique_token()}"}},
    ),
    "read the admins' connections": lambda client, o: client("dynamodb").query(
        TableName=o["ConnectionTableName"],
        IndexName="AdminConnections",
        KeyConditionExpression="AdminFeed = :feed",
        ExpressionAttributeValues={":feed": {"S": f"nobody-{unique_token()}"}},
    ),
    "take or give back a lease": lambda client, o: client("dynamodb").update_item(
        TableName=o["ConnectionLeaseTableName"],
        Key={"ClientId": {"S": f"nobody-{unique_token()}"}},
        UpdateExpression="REMOVE Leases.nobody",
        ConditionExpression="attribute_exists(Leases)",
    ),
    "read a client's leases": lambda client, o: client("dynamodb").get_item(
        TableName=o["ConnectionLeaseTableName"], Key={"ClientId": {"S": f"nobody-{unique_token()}"}}
    ),
    "list app clients": lambda client, o: client("cognito-idp").list_user_pool_clients(
        UserPoolId=o["UserPoolId"], MaxResults=1
    ),
    # Returns the client's secret: no role of the stack may call it.
    "look up an app client": lambda client, o: client("cognito-idp").describe_user_pool_client(
        UserPoolId=o["UserPoolId"], ClientId=o["DevelopmentClientId"]
    ),
    "scan purchases": lambda client, o: client("dynamodb").scan(TableName=o["TableName"], Limit=1),
    "write a purchase": lambda client, o: client("dynamodb").put_item(
        TableName=o["TableName"],
        Item={"ProductPurchaseId": {"S": f"iam-{unique_token()}"}},
        ConditionExpression="attribute_exists(ProductPurchaseId)",
    ),
}
ALLOWED = {
    "notifier": {
        "read a client's connections",
        "read the admins' connections",
        "forget a connection",
        "take or give back a lease",
        "push to a connection",
        "close a connection",
        "list app clients",
    },
    "sweeper": {
        "scan connections",
        "forget a connection",
        "take or give back a lease",
        "close a connection",
        "list app clients",
    },
    "connections": {
        "record a connection",
        "forget a connection",
        "take or give back a lease",
        "read a client's leases",
    },
    "authorizer": set(),
}


@pytest.fixture(scope="module", autouse=True)
def _only_on_emulators(outputs: dict[str, Any]) -> None:
    if outputs["Engine"] == "aws":
        pytest.skip("IAM is proven on the emulator with IAM enforced; on AWS the roles trust only Lambda.")


@pytest.fixture(scope="module")
def as_role(
    outputs: dict[str, Any], engine: Engine, aws_client: Callable[[str], Any]
) -> Callable[[str], Callable[[str], Any]]:
    def clients_of(role: str) -> Callable[[str], Any]:
        credentials = aws_client("sts").assume_role(
            RoleArn=outputs[ROLE_OUTPUTS[role]], RoleSessionName=f"e2e-{role}-{unique_token()}"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=outputs["Region"],
        )
        config = Config(retries={"max_attempts": 1})
        management = (
            f"{engine.endpoint_url()}/_aws/execute-api/{outputs['NotificationApiId']}/{outputs['Stage']}"
        )

        def client(service: str) -> Any:
            endpoint = management if service == "apigatewaymanagementapi" else engine.endpoint_url()
            return session.client(service, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]

        return client

    return clients_of


def _outcome(probe: Probe, client: Callable[[str], Any], outputs: dict[str, Any]) -> str | None:
    try:
        probe(client, outputs)
    except ClientError as error:
        code: str = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return "AccessDenied" if status == 403 and code not in DENIED else code
    return None


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_each_websocket_role_can_do_its_job_and_nothing_else(
    role: str, outputs: dict[str, Any], as_role: Callable[[str], Callable[[str], Any]]
) -> None:
    client = as_role(role)
    outcomes = {name: _outcome(probe, client, outputs) for name, probe in PROBES.items()}
    allowed = {name: outcomes[name] for name in ALLOWED[role]}
    refused = {name: outcome for name, outcome in outcomes.items() if name not in ALLOWED[role]}
    assert all(outcome in AUTHORIZED for outcome in allowed.values()), allowed
    assert all(outcome in DENIED for outcome in refused.values()), refused
