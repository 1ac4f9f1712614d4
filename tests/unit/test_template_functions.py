"""The functions: configuration, environment, logs, least-privilege roles and time bounds."""

from __future__ import annotations

import json

import pytest
from template_stack import (
    DEV,
    FUNCTIONS,
    RETENTION,
    XRAY,
    Stack,
    Template,
    as_list,
    describe_arn,
    grants,
    parameter_values,
    role_statements,
)

from purchases.adapters.clients import API_CALLS, WRITER_CALLS
from purchases.adapters.dynamodb import (
    CLIENT_ID,
    DELETED,
    DIGEST,
    LISTED,
    LISTED_FOR,
    LIVE_INDEX,
    OWNER_INDEX,
)

# ---------------------------------------------------------------------------------------------- functions


EXPECTED_ENVIRONMENT = {
    "SenderFunction": {"QUEUE_URL", "IDEMPOTENCY_TABLE_NAME", "WRITE_SIGNING_KEY_ID"},
    "ReaderFunction": set(),
    "WriterFunction": {
        "WRITE_SIGNING_KEY_ID",
        "WRITER_FAULT_RATE",
        "WRITER_CRASH_RATE",
        "WRITER_SLOW_MARKER",
    },
}
SHARED_ENVIRONMENT = {
    "TABLE_NAME",
    "STAGE",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "LOG_LEVEL",
    "POWERTOOLS_TRACE_DISABLED",
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_any_stage_then_each_function_is_traced_json_logged_and_runs_as_its_own_role(
    stack: Stack, function: str
) -> None:
    properties = stack.properties(function)
    assert properties["Runtime"] == "python3.13"
    assert properties["Handler"] == f"{function.removesuffix('Function').lower()}.lambda_handler"
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert properties["MemorySize"] == 256
    assert properties["Role"] == {"Fn::GetAtt": [function.replace("Function", "Role"), "Arn"]}
    # Sized to each function's AWS calls (see the bounds tests below)
    assert (
        properties["Timeout"]
        == {"WriterFunction": {"Ref": "WriterTimeout"}, "SenderFunction": 21, "ReaderFunction": 5}[function]
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_any_stage_then_each_function_gets_exactly_the_contract_environment(
    stack: Stack, function: str
) -> None:
    variables = stack.properties(function)["Environment"]["Variables"]
    assert set(variables) == SHARED_ENVIRONMENT | EXPECTED_ENVIRONMENT[function]
    assert variables["TABLE_NAME"] == {"Ref": "PurchaseTable"}
    assert variables["STAGE"] == {"Ref": "StageName"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "product-purchase"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ProductPurchase"
    assert variables["POWERTOOLS_LOG_LEVEL"] == variables["LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_TRACE_DISABLED"] == "false"


def test_given_tracing_disabled_then_powertools_tracing_is_off_in_every_function(
    transformed_dev: Template,
) -> None:
    without_xray = Stack(transformed_dev, {**DEV, "TracingEnabled": "false"})
    assert FUNCTIONS
    for function in FUNCTIONS:
        assert (
            without_xray.properties(function)["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"]
            == "true"
        )


def test_given_any_stage_then_the_sender_knows_the_queue_and_the_writer_its_fault_settings(
    stack: Stack,
) -> None:
    assert stack.properties("SenderFunction")["Environment"]["Variables"]["QUEUE_URL"] == {
        "Ref": "PurchaseQueue"
    }
    writer = stack.properties("WriterFunction")["Environment"]["Variables"]
    assert writer["WRITER_FAULT_RATE"] == {"Ref": "WriterFaultRate"}
    assert writer["WRITER_CRASH_RATE"] == {"Ref": "WriterCrashRate"}
    assert writer["WRITER_SLOW_MARKER"] == {"Ref": "WriterSlowMarker"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_given_any_stage_then_each_function_logs_to_its_own_group_with_retention(
    stack: Stack, function: str
) -> None:
    log_group = stack.properties(function.replace("Function", "LogGroup"))
    assert log_group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    assert log_group["RetentionInDays"] == RETENTION


def test_given_any_stage_then_the_writer_consumes_the_queue_in_batches_of_ten_with_partial_failures(
    stack: Stack,
) -> None:
    mapping = stack.properties("WriterFunctionPurchaseWrites")
    assert mapping["FunctionName"] == {"Ref": "WriterFunctionAliaslive"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["PurchaseQueue", "Arn"]}
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WriterMaxConcurrency"}}
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "WriterBatchWindow"}


# ---------------------------------------------------------------------------------------------- least privilege


LOGS = "logs:CreateLogStream", "logs:PutLogEvents"
# The reader may Query the two list indexes only, never the table itself.
LIVE_INDEX_ARN = describe_arn({"Fn::Sub": f"${{PurchaseTable.Arn}}/index/{LIVE_INDEX}"})
OWNER_INDEX_ARN = describe_arn({"Fn::Sub": f"${{PurchaseTable.Arn}}/index/{OWNER_INDEX}"})
EXPECTED_GRANTS = {
    "SenderRole": {
        ("sqs:SendMessage", "PurchaseQueue.Arn"),
        ("dynamodb:GetItem", "PurchaseTable.Arn"),
        ("dynamodb:GetItem", "IdempotencyTable.Arn"),
        ("dynamodb:PutItem", "IdempotencyTable.Arn"),
        ("dynamodb:UpdateItem", "IdempotencyTable.Arn"),
        ("dynamodb:DeleteItem", "IdempotencyTable.Arn"),
        ("kms:GenerateMac", "WriteSigningKey.Arn"),
        *((action, "SenderLogGroup.Arn") for action in LOGS),
        *XRAY,
    },
    "ReaderRole": {
        ("dynamodb:GetItem", "PurchaseTable.Arn"),
        ("dynamodb:Query", LIVE_INDEX_ARN),
        ("dynamodb:Query", OWNER_INDEX_ARN),
        *((action, "ReaderLogGroup.Arn") for action in LOGS),
        *XRAY,
    },
    "WriterRole": {
        ("dynamodb:PutItem", "PurchaseTable.Arn"),
        ("sqs:ReceiveMessage", "PurchaseQueue.Arn"),
        ("sqs:DeleteMessage", "PurchaseQueue.Arn"),
        ("sqs:GetQueueAttributes", "PurchaseQueue.Arn"),
        ("sqs:ChangeMessageVisibility", "PurchaseQueue.Arn"),
        ("kms:VerifyMac", "WriteSigningKey.Arn"),
        *((action, "WriterLogGroup.Arn") for action in LOGS),
        *XRAY,
    },
}


@pytest.mark.parametrize("role", sorted(EXPECTED_GRANTS))
def test_given_any_stage_then_each_function_role_holds_exactly_the_contract_permissions(
    stack: Stack, role: str
) -> None:
    assert grants(stack, role) == EXPECTED_GRANTS[role]


@pytest.mark.parametrize("role", sorted(EXPECTED_GRANTS))
def test_given_any_stage_then_function_roles_trust_lambda_only_and_carry_no_managed_policies(
    stack: Stack, role: str
) -> None:
    properties = stack.properties(role)
    assert "ManagedPolicyArns" not in properties
    (statement,) = properties["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert as_list(statement["Action"]) == ["sts:AssumeRole"]


def test_given_any_stage_then_no_iam_policy_grants_a_wildcard_action(stack: Stack) -> None:
    assert any(role_statements(stack, role) for role in stack.of_type("AWS::IAM::Role"))
    for role in stack.of_type("AWS::IAM::Role"):
        for statement in role_statements(stack, role):
            for action in as_list(statement["Action"]):
                assert "*" not in action, (role, action)


def test_given_any_stage_then_only_xray_is_granted_on_every_resource(stack: Stack) -> None:
    assert EXPECTED_GRANTS
    for role in EXPECTED_GRANTS:
        wildcard_actions = {action for action, resource in grants(stack, role) if resource == "*"}
        assert wildcard_actions <= {action for action, _ in XRAY}, role


def test_given_any_stage_then_the_reader_cannot_write_and_the_sender_cannot_consume(stack: Stack) -> None:
    reader_data_actions = {
        action for action, _ in grants(stack, "ReaderRole") if action.startswith(("dynamodb:", "sqs:"))
    }
    assert reader_data_actions <= {"dynamodb:GetItem", "dynamodb:Query"}
    # The sender writes only its idempotency records; on the purchase table it only reads.
    sender_data_actions = {
        action
        for action, resource in grants(stack, "SenderRole")
        if action.startswith(("dynamodb:", "sqs:")) and resource != "IdempotencyTable.Arn"
    }
    assert sender_data_actions <= {"sqs:SendMessage", "dynamodb:GetItem"}


def test_given_any_stage_then_only_the_senders_role_may_send_to_the_write_queue(stack: Stack) -> None:
    # Given the queue's policy
    policy = stack.properties("PurchaseQueuePolicy")
    assert policy["Queues"] == [{"Ref": "PurchaseQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    # Then SendMessage, and nothing else (CloudFormation keeps managing the queue), is denied to everyone
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "sqs:SendMessage",
    )
    assert statement["Resource"] == {"Fn::GetAtt": ["PurchaseQueue", "Arn"]}
    # But the sender's role (as AWS reports it, and as MiniStack does) and a redrive made by SQS itself
    assert statement["Condition"] == {
        "ArnNotLike": {
            "aws:PrincipalArn": [
                {"Fn::GetAtt": ["SenderRole", "Arn"]},
                {"Fn::Sub": "arn:${AWS::Partition}:sts::${AWS::AccountId}:assumed-role/${SenderRole}/*"},
            ]
        },
        "BoolIfExists": {"aws:ViaAWSService": "false"},
    }


def test_given_any_stage_then_only_the_sender_signs_and_only_the_writer_verifies(stack: Stack) -> None:
    # Given the write-signing key: an HMAC key
    key = stack.properties("WriteSigningKey")
    assert (key["KeySpec"], key["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    statements = {statement["Sid"]: statement for statement in key["KeyPolicy"]["Statement"]}
    assert all(statement["Effect"] == "Allow" for statement in statements.values())
    # Then the sender's role alone may GenerateMac, the writer's alone VerifyMac
    mac_grants = {
        (action, json.dumps(statement["Principal"], sort_keys=True))
        for statement in statements.values()
        for action in as_list(statement["Action"])
        if action in {"kms:GenerateMac", "kms:VerifyMac", "kms:*"} or action.endswith(("Mac", "*"))
    }
    assert mac_grants == {
        ("kms:GenerateMac", json.dumps({"AWS": {"Fn::GetAtt": ["SenderRole", "Arn"]}})),
        ("kms:VerifyMac", json.dumps({"AWS": {"Fn::GetAtt": ["WriterRole", "Arn"]}})),
    }
    # And the account administers the key without being able to hand MAC operations out (no grants, no wildcard)
    administration = as_list(statements["AccountAdministersKey"]["Action"])
    assert "kms:PutKeyPolicy" in administration
    assert not {"kms:CreateGrant", "kms:GenerateMac", "kms:VerifyMac"} & set(administration)
    # And the functions are told which key
    for function in ("SenderFunction", "WriterFunction"):
        variables = stack.properties(function)["Environment"]["Variables"]
        assert variables["WRITE_SIGNING_KEY_ID"] == {"Fn::GetAtt": ["WriteSigningKey", "Arn"]}


def test_given_any_stage_then_an_unverified_write_raises_an_alarm(stack: Stack) -> None:
    from purchases.observability import PURCHASE_WRITE_UNVERIFIED

    alarm = stack.properties("UnverifiedWriteAlarm")
    # The writer's Powertools metric, in the functions' namespace and with their service dimension
    assert (alarm["Namespace"], alarm["MetricName"]) == ("ProductPurchase", PURCHASE_WRITE_UNVERIFIED)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "product-purchase"}]
    # One is enough
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_given_any_stage_then_no_function_role_touches_the_dead_letter_queue(stack: Stack) -> None:
    assert EXPECTED_GRANTS
    for role in EXPECTED_GRANTS:
        assert not {
            resource for _, resource in grants(stack, role) if "PurchaseDeadLetterQueue" in resource
        }, role


def test_given_the_default_then_the_region_wide_api_gateway_account_is_left_alone(dev: Stack) -> None:
    assert not dev.of_type("AWS::ApiGateway::Account")
    assert "ApiGatewayCloudWatchRole" not in dev.resources


def test_given_create_api_gateway_account_then_the_account_role_is_aws_managed_retained_and_awaited(
    transformed_dev: Template,
) -> None:
    with_account = Stack(transformed_dev, {**DEV, "CreateApiGatewayAccount": "true"})
    account = with_account.only("AWS::ApiGateway::Account")["Properties"]
    assert account["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    role = with_account.resources["ApiGatewayCloudWatchRole"]
    assert role["DeletionPolicy"] == "Retain"
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
    ]
    assert with_account.resources["ProductPurchaseApi"]["DependsOn"] == "ApiGatewayAccountReady"
    assert with_account.resources["ApiGatewayAccountReady"]["Metadata"] == {
        "Account": {"Ref": "ApiGatewayAccount"}
    }


# ---------------------------------------------------------------------------------------------- bounds


def test_given_any_stage_then_the_list_indexes_are_the_sparse_ones_the_code_queries(stack: Stack) -> None:
    every_owner, by_owner = stack.properties("PurchaseTable")["GlobalSecondaryIndexes"]
    assert every_owner["IndexName"] == LIVE_INDEX
    assert by_owner["IndexName"] == OWNER_INDEX
    for index, partition in ((every_owner, LISTED), (by_owner, LISTED_FOR)):
        assert index["KeySchema"] == [
            {"AttributeName": partition, "KeyType": "HASH"},
            {"AttributeName": "ProductPurchaseId", "KeyType": "RANGE"},
        ]
        assert index["Projection"] == {"ProjectionType": "ALL"}


@pytest.mark.parametrize(("function", "calls"), [("SenderFunction", 5), ("ReaderFunction", 1)])
def test_given_any_stage_then_an_api_function_outlasts_its_aws_calls_at_their_worst(
    stack: Stack, function: str, calls: int
) -> None:
    import reader
    import sender

    handler = {"SenderFunction": sender, "ReaderFunction": reader}[function]
    assert calls == handler.AWS_CALLS_PER_REQUEST
    # Half a second to spare for the function's own work
    assert calls * API_CALLS.worst_case_seconds + 0.5 <= stack.properties(function)["Timeout"]


def test_given_the_default_writer_timeout_then_a_batch_can_finish_after_a_slow_record(
    source: Template,
) -> None:
    import writer

    timeout_ms = int(parameter_values(source, {})["WriterTimeout"]) * 1000
    # A slow record takes the writer's call budget at worst; the rest still find the reserve they need
    assert WRITER_CALLS.worst_case_seconds * 1000 + writer.RECORD_RESERVE_MS < timeout_ms
    # And the reserve holds a record's calls at their worst: its verification and its table write
    assert writer.AWS_CALLS_PER_RECORD == 2
    assert writer.AWS_CALLS_PER_RECORD * WRITER_CALLS.worst_case_seconds * 1000 <= writer.RECORD_RESERVE_MS


def test_given_any_stage_then_the_senders_existence_check_may_read_only_key_flag_owner_and_digest(
    stack: Stack,
) -> None:
    (statement,) = [
        s
        for s in role_statements(stack, "SenderRole")
        if "dynamodb:GetItem" in as_list(s["Action"])
        and s["Resource"] == {"Fn::GetAtt": ["PurchaseTable", "Arn"]}
    ]
    # IfExists on Select, as AWS documents it: a request without the key is not refused for its absence
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {
            "dynamodb:Attributes": ["ProductPurchaseId", DELETED, CLIENT_ID, DIGEST]
        },
        "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
    }
