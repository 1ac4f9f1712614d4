"""The real-time part of the template: the change feed, the WebSocket API as MiniStack and AWS both deploy it,
and least privilege for its three functions. Offline, through the SAM translator (see test_template)."""

from __future__ import annotations

from typing import Any

import pytest
from template_stack import DEV, PROD_WITH_DOMAIN, TEMPLATE, Stack, grants, sam_transform

from devkit.core.template import load_template


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> Stack:
    parameters = DEV if request.param == "dev" else PROD_WITH_DOMAIN
    return Stack(sam_transform(load_template(TEMPLATE, inline_includes=True), parameters), parameters)


def _notifier_stream_mapping(stack: Stack) -> dict[str, Any]:
    """The properties of the one event source mapping that feeds the notifier's live alias."""
    (mapping,) = (
        resource["Properties"]
        for resource in stack.of_type("AWS::Lambda::EventSourceMapping").values()
        if resource["Properties"]["FunctionName"] == {"Ref": "NotifierFunctionAliaslive"}
    )
    return dict(mapping)


def test_given_any_stage_then_the_purchase_table_streams_both_images(stack: Stack) -> None:
    assert stack.properties("PurchaseTable")["StreamSpecification"] == {
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    }


def test_given_any_stage_then_the_notifier_reads_the_stream_from_its_start_without_partial_responses(
    stack: Stack,
) -> None:
    mapping = _notifier_stream_mapping(stack)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["PurchaseTable", "StreamArn"]}
    # TRIM_HORIZON: nothing between the stream's and the mapping's creation is missed (and the restart work-around
    # relies on it). No ReportBatchItemFailures: MiniStack ignores it on stream sources.
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert "ReportBatchItemFailures" not in mapping.get("FunctionResponseTypes", [])
    assert int(mapping["MaximumRetryAttempts"]) >= 1


def test_given_any_stage_then_connection_records_expire_by_ttl(stack: Stack) -> None:
    table = stack.properties("ConnectionTable")
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ExpiresAt", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["KeySchema"] == [{"AttributeName": "ConnectionId", "KeyType": "HASH"}]


def test_given_any_stage_then_the_websocket_api_deploys_itself_and_guards_connect(stack: Stack) -> None:
    assert stack.properties("NotificationApi")["ProtocolType"] == "WEBSOCKET"
    # MiniStack rejects AWS::ApiGatewayV2::Deployment; an auto-deploying stage needs none.
    assert not stack.of_type("AWS::ApiGatewayV2::Deployment")
    assert stack.properties("NotificationStage")["AutoDeploy"] is True
    routes = {
        resource["Properties"]["RouteKey"]: resource["Properties"]
        for resource in stack.of_type("AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["$connect"]["AuthorizerId"] == {"Ref": "NotificationAuthorizer"}
    assert all(routes[key].get("AuthorizationType", "NONE") == "NONE" for key in ("$disconnect", "$default"))
    authorizer = stack.properties("NotificationAuthorizer")
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    # The `live` alias, which delivery shifts traffic on
    assert "${AuthorizerFunctionAliaslive}" in authorizer["AuthorizerUri"]["Fn::Sub"]
    integration = stack.properties("ConnectionsIntegration")
    assert "${ConnectionsFunctionAliaslive}" in integration["IntegrationUri"]["Fn::Sub"]
    assert "AccessLogSettings" in stack.properties("NotificationStage")


def test_given_any_stage_then_the_authorizer_checks_tokens_of_the_stacks_own_pool(stack: Stack) -> None:
    variables = stack.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert variables["USER_POOL_ID"] == {"Ref": "UserPool"}


def test_given_any_stage_then_the_websocket_functions_get_only_what_they_need(stack: Stack) -> None:
    xray = {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
    logs = {("logs:CreateLogStream", "{}LogGroup.Arn"), ("logs:PutLogEvents", "{}LogGroup.Arn")}

    def own_logs(name: str) -> set[tuple[str, str]]:
        return {(action, resource.format(name)) for action, resource in logs}

    assert grants(stack, "AuthorizerRole") == xray | own_logs("Authorizer")
    assert grants(stack, "ConnectionsRole") == xray | own_logs("Connections") | {
        ("dynamodb:PutItem", "ConnectionTable.Arn"),
        ("dynamodb:DeleteItem", "ConnectionTable.Arn"),
        ("dynamodb:UpdateItem", "ConnectionLeaseTable.Arn"),
        ("dynamodb:GetItem", "ConnectionLeaseTable.Arn"),
    }
    notifier = grants(stack, "NotifierRole")
    stream = {
        (action, "PurchaseTable.StreamArn")
        for action in ("DescribeStream", "GetRecords", "GetShardIterator", "ListStreams")
        for action in [f"dynamodb:{action}"]
    }
    manage = {(a, r) for a, r in notifier if a == "execute-api:ManageConnections"}
    # No Scan of the connection table, and no DescribeUserPoolClient (it returns client secrets)
    assert notifier - manage == xray | own_logs("Notifier") | stream | {
        ("dynamodb:Query", '{"Fn::Sub": "${ConnectionTable.Arn}/index/ClientConnections"}'),
        ("dynamodb:Query", '{"Fn::Sub": "${ConnectionTable.Arn}/index/AdminConnections"}'),
        ("dynamodb:DeleteItem", "ConnectionTable.Arn"),
        ("dynamodb:UpdateItem", "ConnectionLeaseTable.Arn"),
        ("cognito-idp:ListUserPoolClients", "UserPool.Arn"),
        ("sqs:SendMessage", "NotificationFailureQueue.Arn"),
    }
    sweeper = grants(stack, "SweeperRole")
    sweeper_manage = {(a, r) for a, r in sweeper if a == "execute-api:ManageConnections"}
    assert sweeper - sweeper_manage == xray | own_logs("Sweeper") | {
        ("dynamodb:Scan", "ConnectionTable.Arn"),
        ("dynamodb:DeleteItem", "ConnectionTable.Arn"),
        ("dynamodb:UpdateItem", "ConnectionLeaseTable.Arn"),
        ("cognito-idp:ListUserPoolClients", "UserPool.Arn"),
    }
    # The sweep closes connections and never pushes
    (closing,) = (resource for _, resource in sweeper_manage)
    assert "${NotificationApi}/${StageName}/DELETE/@connections/*" in closing
    # Pushing and closing are allowed on this API's stage only: POST and DELETE on @connections, nothing else
    resources = sorted(resource for _, resource in manage)
    assert len(resources) == 2
    assert "${NotificationApi}/${StageName}/DELETE/@connections/*" in resources[0]
    assert "${NotificationApi}/${StageName}/POST/@connections/*" in resources[1]


def test_given_any_stage_then_the_websocket_url_is_an_output(stack: Stack) -> None:
    url = stack.outputs["WebSocketUrl"]["Value"]["Fn::Sub"]
    assert url.startswith("wss://${NotificationApi}.execute-api.") and url.endswith("/${StageName}")


def test_given_any_stage_then_a_client_holds_a_bounded_number_of_connections_by_lease(stack: Stack) -> None:
    from purchases.adapters.connections import CLIENT_ID, EXPIRES_AT

    assert stack.parameters["MaxConnectionsPerClient"] == "5"
    variables = stack.properties("ConnectionsFunction")["Environment"]["Variables"]
    assert variables["MAX_CONNECTIONS_PER_CLIENT"] == {"Ref": "MaxConnectionsPerClient"}
    for function in ("ConnectionsFunction", "NotifierFunction", "SweeperFunction"):
        variables = stack.properties(function)["Environment"]["Variables"]
        assert variables["CONNECTION_LEASE_TABLE"] == {"Ref": "ConnectionLeaseTable"}, function
    leases = stack.properties("ConnectionLeaseTable")
    assert leases["KeySchema"] == [{"AttributeName": CLIENT_ID, "KeyType": "HASH"}]
    assert leases["TimeToLiveSpecification"] == {"AttributeName": EXPIRES_AT, "Enabled": True}


def test_given_any_stage_then_a_batch_reads_its_recipients_through_the_client_and_admin_indexes(
    stack: Stack,
) -> None:
    from purchases.adapters.connections import (
        ADMIN_FEED,
        ADMIN_INDEX,
        CLIENT_ID,
        CLIENT_INDEX,
        EXPIRES_AT,
        TOKEN_EXPIRES_AT,
    )

    indexes = {
        index["IndexName"]: index for index in stack.properties("ConnectionTable")["GlobalSecondaryIndexes"]
    }
    assert set(indexes) == {CLIENT_INDEX, ADMIN_INDEX}
    assert indexes[CLIENT_INDEX]["KeySchema"][0] == {"AttributeName": CLIENT_ID, "KeyType": "HASH"}
    assert indexes[ADMIN_INDEX]["KeySchema"][0] == {"AttributeName": ADMIN_FEED, "KeyType": "HASH"}
    # The filter on the record's lifetime and the connection's own fields are read from the index itself
    assert set(indexes[CLIENT_INDEX]["Projection"]["NonKeyAttributes"]) == {TOKEN_EXPIRES_AT, EXPIRES_AT}
    assert set(indexes[ADMIN_INDEX]["Projection"]["NonKeyAttributes"]) == {
        CLIENT_ID,
        TOKEN_EXPIRES_AT,
        EXPIRES_AT,
    }


def test_given_any_stage_then_the_sweeper_runs_every_minute_one_at_a_time(stack: Stack) -> None:
    sweeper = stack.properties("SweeperFunction")
    assert sweeper["ReservedConcurrentExecutions"] == 1
    (rule,) = (
        resource["Properties"]
        for resource in stack.of_type("AWS::Events::Rule").values()
        if resource["Properties"]["Targets"][0]["Arn"] == {"Ref": "SweeperFunctionAliaslive"}
    )
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    for name in ("CONNECTION_TABLE", "NOTIFICATION_API_ID", "USER_POOL_ID"):
        assert (
            sweeper["Environment"]["Variables"][name]
            == stack.properties("NotifierFunction")["Environment"]["Variables"][name]
        )


def test_given_any_stage_then_the_notifier_knows_the_pool_whose_clients_own_connections(stack: Stack) -> None:
    variables = stack.properties("NotifierFunction")["Environment"]["Variables"]
    assert variables["USER_POOL_ID"] == {"Ref": "UserPool"}


def test_given_any_stage_then_a_failing_batch_is_halved_and_what_is_given_up_goes_to_an_alarmed_queue(
    stack: Stack,
) -> None:
    mapping = _notifier_stream_mapping(stack)
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 1 <= int(mapping["MaximumRetryAttempts"]) <= 10
    assert 60 <= int(mapping["MaximumRecordAgeInSeconds"]) <= 3600
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["NotificationFailureQueue", "Arn"]}}
    }
    queue = stack.properties("NotificationFailureQueue")
    assert queue["SqsManagedSseEnabled"] is True and queue["MessageRetentionPeriod"] == 1209600
    alarm = stack.properties("NotificationFailureAlarm")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["NotificationFailureQueue", "QueueName"]}}
    ]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_given_any_stage_then_the_websocket_access_log_names_the_caller(stack: Stack) -> None:
    log_format = stack.properties("NotificationStage")["AccessLogSettings"]["Format"]
    assert "$context.authorizer.clientId" in log_format and "$context.authorizer.principalId" in log_format
