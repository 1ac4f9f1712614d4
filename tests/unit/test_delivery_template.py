"""Delivery in template.yaml, checked on the SAM-transformed template: every caller reaches the functions
through their `live` alias, CodeDeploy shifts it per stage and rolls back on the alarms, every alarm pages."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from template_stack import (
    FUNCTIONS,
    REALTIME_FUNCTIONS,
    ROUTES,
    TEMPLATE,
    Stack,
    Template,
    integration_target,
    sam_transform,
)

from devkit.core.template import load_template, with_parameter_defaults
from devkit.engines.emulator import EMULATOR_STAGE_PARAMETERS

ALIAS = "live"
ALARM_TOPIC = [{"Ref": "AlarmTopic"}]
# The alarms CodeDeploy watches during a shift; the DLQ alarm is the one that is not (see the template's Globals).
ROLLBACK_ALARMS = {
    "ApiServerErrorAlarm",
    "SenderErrorsAlarm",
    "SenderThrottlesAlarm",
    "ReaderErrorsAlarm",
    "ReaderThrottlesAlarm",
    "WriterErrorsAlarm",
    "WriterThrottlesAlarm",
    "QueueBacklogAlarm",
}
# Queues that stay non-empty until someone acts: they page, but would block the fix as rollback triggers.
PAGING_ONLY_ALARMS = {"DeadLetterAlarm", "NotificationFailureAlarm", "UnverifiedWriteAlarm"}
# Every function, the WebSocket side's included: all are published behind the alias and shifted by CodeDeploy.
ALL_FUNCTIONS = (*FUNCTIONS, *REALTIME_FUNCTIONS)
# The WebSocket API invokes two functions through Lambda permissions of its own (the authorizer, the routes), and
# the sweeper's schedule one (EventBridge).
WEBSOCKET_PERMISSIONS = 3


def deployed(stage: str, **overrides: str) -> Stack:
    parameters: Mapping[str, str] = {"StageName": stage, **overrides}
    return Stack(sam_transform(load_template(TEMPLATE, inline_includes=True), parameters), parameters)


@pytest.fixture(scope="module")
def stacks() -> dict[str, Stack]:
    return {stage: deployed(stage) for stage in ("dev", "qa", "staging", "prod")}


@pytest.fixture(scope="module")
def emulated() -> Stack:
    return deployed("dev", **EMULATOR_STAGE_PARAMETERS)


def alias_id(function: str) -> str:
    return f"{function}Alias{ALIAS}"


# ---------------------------------------------------------------------------------------------- aliases


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_given_any_stage_then_every_function_publishes_versions_behind_the_live_alias(
    stacks: dict[str, Stack], stage: str
) -> None:
    stack = stacks[stage]
    for function in ALL_FUNCTIONS:
        alias = stack.properties(alias_id(function))
        assert stack.resources[alias_id(function)]["Type"] == "AWS::Lambda::Alias"
        assert alias["Name"] == ALIAS
        assert alias["FunctionName"] == {"Ref": function}
        (version_id,) = [
            lid
            for lid, res in stack.of_type("AWS::Lambda::Version").items()
            if res["Properties"]["FunctionName"] == {"Ref": function}
        ]
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


def test_given_the_api_then_every_route_and_its_permission_call_the_alias(stacks: dict[str, Stack]) -> None:
    stack = stacks["prod"]
    for path, method, operation in stack.operations():
        if method == "options":
            continue
        uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        assert f"${{{alias_id(ROUTES[(path, method)])}}}" in uri
        assert integration_target(operation) == ROUTES[(path, method)]
    permissions = stack.of_type("AWS::Lambda::Permission")
    assert len(permissions) == len(ROUTES) + WEBSOCKET_PERMISSIONS
    for permission in permissions.values():
        assert permission["Properties"]["FunctionName"]["Ref"] in {alias_id(f) for f in ALL_FUNCTIONS}


def test_given_the_queue_then_its_event_source_invokes_the_writer_alias(stacks: dict[str, Stack]) -> None:
    for stack in stacks.values():
        mapping = stack.properties("WriterFunctionPurchaseWrites")
        assert mapping["FunctionName"] == {"Ref": alias_id("WriterFunction")}
        assert stack.properties("NotifierFunctionPurchaseChanges")["FunctionName"] == {
            "Ref": alias_id("NotifierFunction")
        }


def test_given_any_stage_then_nothing_invokes_a_function_but_through_its_alias(
    stacks: dict[str, Stack],
) -> None:
    # A trigger added later (a schedule, a topic, a bucket) must also name the alias: no invoke path by bare name.
    for stack in stacks.values():
        for logical_id, resource in stack.resources.items():
            if resource["Type"] in ("AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping"):
                target = resource["Properties"]["FunctionName"]
                assert target not in [{"Ref": f} for f in ALL_FUNCTIONS], logical_id


# ---------------------------------------------------------------------------------------------- traffic shifting


@pytest.mark.parametrize(
    ("stage", "config"),
    [
        ("dev", "AllAtOnce"),
        ("qa", "AllAtOnce"),
        ("staging", "AllAtOnce"),
        ("prod", "Canary10Percent5Minutes"),
    ],
)
def test_given_a_stage_then_codedeploy_shifts_each_alias_with_that_stages_config_and_alarm_rollback(
    stacks: dict[str, Stack], stage: str, config: str
) -> None:
    stack = stacks[stage]
    groups = stack.of_type("AWS::CodeDeploy::DeploymentGroup")
    assert len(groups) == len(ALL_FUNCTIONS)
    for function in ALL_FUNCTIONS:
        group = stack.properties(f"{function}DeploymentGroup")
        assert group["DeploymentConfigName"] == {
            "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": config}]
        }
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        assert set(group["AutoRollbackConfiguration"]["Events"]) >= {
            "DEPLOYMENT_FAILURE",
            "DEPLOYMENT_STOP_ON_ALARM",
        }
        watched = {alarm["Name"]["Ref"] for alarm in group["AlarmConfiguration"]["Alarms"]}
        assert group["AlarmConfiguration"]["Enabled"] is True
        assert watched == ROLLBACK_ALARMS
        update = stack.resources[alias_id(function)]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["DeploymentGroupName"] == {"Ref": f"{function}DeploymentGroup"}


def test_given_the_emulator_parameters_then_no_codedeploy_resource_exists_and_aliases_move_at_once(
    emulated: Stack,
) -> None:
    assert EMULATOR_STAGE_PARAMETERS["GradualDeployment"] == "false"
    assert not [res for res in emulated.resources.values() if res["Type"].startswith("AWS::CodeDeploy::")]
    for function in FUNCTIONS:
        assert "UpdatePolicy" not in emulated.resources[alias_id(function)]


def test_given_a_transform_that_sees_only_defaults_then_baked_emulator_defaults_still_disable_codedeploy() -> (
    None
):
    # MiniStack runs the SAM transform with no parameter values: only the defaults decide.
    as_sent = with_parameter_defaults(
        load_template(TEMPLATE, inline_includes=True), {"StageName": "dev", **EMULATOR_STAGE_PARAMETERS}
    )
    transformed = sam_transform(as_sent, {})
    assert not [r for r in transformed["Resources"].values() if r["Type"].startswith("AWS::CodeDeploy::")]
    untouched = sam_transform(load_template(TEMPLATE, inline_includes=True), {})
    assert [r for r in untouched["Resources"].values() if r["Type"] == "AWS::CodeDeploy::Application"]


# ---------------------------------------------------------------------------------------------- alarms


def test_given_any_stage_then_every_alarm_notifies_the_topic_when_it_fires_and_clears(
    stacks: dict[str, Stack],
) -> None:
    for stack in stacks.values():
        alarms = stack.of_type("AWS::CloudWatch::Alarm")
        assert set(alarms) == ROLLBACK_ALARMS | PAGING_ONLY_ALARMS
        for logical_id, alarm in alarms.items():
            properties = alarm["Properties"]
            assert properties["AlarmActions"] == ALARM_TOPIC, logical_id
            assert properties["OKActions"] == ALARM_TOPIC, logical_id
            assert properties["TreatMissingData"] == "notBreaching", logical_id
            assert len(properties["AlarmDescription"]) > 40, logical_id


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_given_a_function_then_its_errors_and_throttles_are_watched_on_the_alias(
    stacks: dict[str, Stack], function: str, metric: str
) -> None:
    alarm = stacks["prod"].properties(f"{function.removesuffix('Function')}{metric}Alarm")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", metric, "Sum")
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": function}},
        {"Name": "Resource", "Value": {"Fn::Sub": f"${{{function}}}:{ALIAS}"}},
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)


def test_given_the_api_then_a_5xx_rate_above_five_percent_raises_its_alarm(stacks: dict[str, Stack]) -> None:
    stack = stacks["prod"]
    alarm = stack.properties("ApiServerErrorAlarm")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/ApiGateway",
        "5XXError",
        "Average",
    )
    assert alarm["Dimensions"] == [
        {"Name": "ApiName", "Value": {"Ref": "AWS::StackName"}},
        {"Name": "Stage", "Value": {"Ref": "StageName"}},
    ]
    # The ApiName dimension is the API's name, which SAM takes from the stack (the OpenAPI title).
    assert stack.api_body["info"]["title"] == {"Ref": "AWS::StackName"}
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0.05)


def test_given_the_queue_then_an_accepted_write_older_than_five_minutes_raises_the_backlog_alarm(
    stacks: dict[str, Stack],
) -> None:
    alarm = stacks["prod"].properties("QueueBacklogAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["PurchaseQueue", "QueueName"]}}
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 300)


def test_given_no_alarm_email_then_nobody_is_subscribed(stacks: dict[str, Stack]) -> None:
    assert not stacks["prod"].of_type("AWS::SNS::Subscription")


def test_given_an_alarm_email_then_that_person_is_subscribed_to_the_topic() -> None:
    stack = deployed("prod", AlarmEmail="oncall@example.com")
    subscription = stack.only("AWS::SNS::Subscription")["Properties"]
    assert subscription == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


@pytest.mark.parametrize("address", ["oncall@example.com", "a.b+alarms@sub.example.org"])
def test_given_an_address_then_the_alarm_email_parameter_accepts_it(address: str) -> None:
    import re

    pattern = load_template(TEMPLATE)["Parameters"]["AlarmEmail"]["AllowedPattern"]
    assert re.fullmatch(pattern, address)
    assert re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "not-an-address")


def test_given_the_source_template_then_the_deployment_preference_reads_its_parameter(
    source: Template,
) -> None:
    preference = source["Globals"]["Function"]["DeploymentPreference"]
    assert source["Globals"]["Function"]["AutoPublishAlias"] == ALIAS
    assert preference["Enabled"] == {"Ref": "GradualDeployment"}
    assert json.dumps(preference["Type"]) == json.dumps(
        {"Fn::If": ["IsProd", "Canary10Percent5Minutes", "AllAtOnce"]}
    )


@pytest.fixture(scope="module")
def source() -> Template:
    return load_template(TEMPLATE)
