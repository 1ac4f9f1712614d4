"""The template, checked the way CloudFormation will see it: SAM-transformed (offline, with the translator),
conditions evaluated for a parameter set, then read resource by resource. No network."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from samtranslator.translator.transform import transform

from devkit.core.template import dump_template, load_template, parse_template
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
from purchases.ownership import ADMIN_SCOPE

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SCHEMA = REPO / "handlers" / "purchases" / "purchase.schema.json"
SCHEMA_INCLUDE = {
    "Fn::Transform": {
        "Name": "AWS::Include",
        "Parameters": {"Location": "handlers/purchases/purchase.schema.json"},
    }
}

DEV = {"StageName": "dev"}
PROD_WITH_DOMAIN = {
    "StageName": "prod",
    "DomainName": "api.example.com",
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
}
CONTRACT_DEFAULTS = {
    "StageName": "dev",
    "DomainName": "",
    "HostedZoneId": "",
    "AccessLogGroup": "",
    "CreateApiGatewayAccount": "false",
    "WriterTimeout": "10",
    "QueueVisibilityTimeout": "60",
    "WriterMaxConcurrency": "5",
    "WriterBatchWindow": "0",
    "ThrottleRateLimit": "100",
    "ThrottleBurstLimit": "200",
    "LogLevel": "INFO",
    "TracingEnabled": "true",
    "WriterFaultRate": "0",
    "WriterCrashRate": "0",
    "AccessTokenMinutes": "60",
    "GradualDeployment": "true",
    "AlarmEmail": "",
    "WriterSlowMarker": "",
    "LogRetentionInDays": "0",
    "MaxConnectionsPerClient": "5",
    "PermissionsBoundary": "",
}
FUNCTIONS = ("SenderFunction", "ReaderFunction", "WriterFunction")
# Without LogRetentionInDays, every log group keeps the stage's retention.
RETENTION = {"Fn::FindInMap": ["StageLogRetention", {"Ref": "StageName"}, "Days"]}
# The WebSocket side's functions; test_template_realtime checks them.
REALTIME_FUNCTIONS = ("AuthorizerFunction", "ConnectionsFunction", "NotifierFunction")
XRAY = {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
CORS_ALLOW_HEADERS = "'Content-Type,X-Amz-Date,Authorization,X-Api-Key,Idempotency-Key'"
CORS_ALLOW_METHODS = "'GET,POST,PUT,DELETE,OPTIONS'"

Template = dict[str, Any]


# ---------------------------------------------------------------------------------------------- helpers


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only when a function names one; none does here."""

    def load(self) -> dict[str, str]:
        return {}


def sam_transform(template: Template, parameters: Mapping[str, str]) -> Template:
    fragment = copy.deepcopy(template)
    # What `sam package` does before CloudFormation sees the template: the translator accepts only S3 code.
    fragment["Globals"]["Function"]["CodeUri"] = "s3://artifacts/handlers.zip"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        result: Template = transform(fragment, dict(parameters), _NoManagedPolicies())
    return result


def parameter_values(template: Template, overrides: Mapping[str, str]) -> dict[str, str]:
    defaults = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    return {**defaults, **overrides}


def evaluate(expression: Any, template: Template, parameters: Mapping[str, str]) -> Any:
    """The condition functions (and Ref to a parameter) as CloudFormation evaluates them in Conditions and Rules."""
    if not isinstance(expression, dict) or len(expression) != 1:
        return expression
    ((function, argument),) = expression.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Condition":
        return evaluate(template["Conditions"][argument], template, parameters)
    if function == "Fn::Equals":
        left, right = (str(evaluate(side, template, parameters)) for side in argument)
        return left == right
    if function == "Fn::Not":
        return not evaluate(argument[0], template, parameters)
    if function == "Fn::And":
        return all(evaluate(item, template, parameters) for item in argument)
    if function == "Fn::Or":
        return any(evaluate(item, template, parameters) for item in argument)
    if function == "Fn::FindInMap":
        mapping, top, second = (evaluate(item, template, parameters) for item in argument)
        return template["Mappings"][mapping][top][second]
    raise AssertionError(f"unexpected function in a condition: {function}")


_NO_VALUE = {"Ref": "AWS::NoValue"}


def resolve_conditions(node: Any, conditions: Mapping[str, bool]) -> Any:
    """`node` with each Fn::If replaced by its branch; a branch of AWS::NoValue removes the list item or property,
    as CloudFormation does."""
    if isinstance(node, list):
        items = [resolve_conditions(item, conditions) for item in node]
        return [item for item in items if item != _NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::If"}:
        name, when_true, when_false = node["Fn::If"]
        return resolve_conditions(when_true if conditions[name] else when_false, conditions)
    values = {key: resolve_conditions(value, conditions) for key, value in node.items()}
    return {key: value for key, value in values.items() if value != _NO_VALUE}


class Stack:
    """The transformed template as one parameter set deploys it: false-condition resources and outputs gone,
    every Fn::If replaced by its branch. Refs and GetAtts stay symbolic so tests can check what points where."""

    def __init__(self, transformed: Template, overrides: Mapping[str, str]) -> None:
        self.parameters = parameter_values(transformed, overrides)
        self.conditions = {
            name: bool(evaluate(expression, transformed, self.parameters))
            for name, expression in transformed.get("Conditions", {}).items()
        }
        self.resources: dict[str, Template] = {
            logical_id: resolve_conditions(resource, self.conditions)
            for logical_id, resource in transformed["Resources"].items()
            if self.conditions.get(resource.get("Condition", ""), True)
        }
        self.outputs: dict[str, Template] = {
            key: resolve_conditions(output, self.conditions)
            for key, output in transformed.get("Outputs", {}).items()
            if self.conditions.get(output.get("Condition", ""), True)
        }

    def properties(self, logical_id: str) -> Template:
        properties: Template = self.resources[logical_id].get("Properties", {})
        return properties

    def of_type(self, resource_type: str) -> dict[str, Template]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == resource_type}

    def only(self, resource_type: str) -> Template:
        matches = self.of_type(resource_type)
        assert len(matches) == 1, f"expected one {resource_type}, found {sorted(matches)}"
        (resource,) = matches.values()
        return resource

    @property
    def api_body(self) -> Template:
        body: Template = self.properties("ProductPurchaseApi")["Body"]
        return body

    def operations(self) -> Iterator[tuple[str, str, Template]]:
        for path, item in self.api_body["paths"].items():
            for method, operation in item.items():
                yield path, method, operation


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def describe_arn(resource: Any) -> str:
    """'*', 'Logical.Arn' for a GetAtt, 'Logical' for a Ref; anything else verbatim (and so never expected)."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return ".".join(resource["Fn::GetAtt"])
    if isinstance(resource, dict) and "Ref" in resource:
        return str(resource["Ref"])
    return json.dumps(resource, sort_keys=True)


def role_statements(stack: Stack, role_id: str) -> list[Template]:
    """Every statement that ends up on the role: its inline policies plus policy resources attached to it."""
    statements: list[Template] = []
    for policy in stack.properties(role_id).get("Policies", []):
        statements += as_list(policy["PolicyDocument"]["Statement"])
    for resource in stack.resources.values():
        attached_to = resource.get("Properties", {}).get("Roles", [])
        if (
            resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
            and {"Ref": role_id} in attached_to
        ):
            statements += as_list(resource["Properties"]["PolicyDocument"]["Statement"])
    return statements


def grants(stack: Stack, role_id: str) -> set[tuple[str, str]]:
    granted = set()
    for statement in role_statements(stack, role_id):
        assert statement["Effect"] == "Allow", statement
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), statement
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                granted.add((action, describe_arn(resource)))
    return granted


def integration_target(operation: Template) -> str:
    uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
    # The integration calls the function's `live` alias (AutoPublishAlias), not $LATEST.
    match = re.search(r"\$\{(\w+)Aliaslive\}", uri)
    assert match, uri
    return match.group(1)


def model_name(operation: Template) -> str:
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    prefix = "#/components/schemas/"
    assert reference.startswith(prefix), reference
    return str(reference[len(prefix) :])


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def source() -> Template:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def inlined() -> Template:
    return load_template(TEMPLATE, inline_includes=True)


@pytest.fixture(scope="module")
def transformed_dev(inlined: Template) -> Template:
    return sam_transform(inlined, DEV)


@pytest.fixture(scope="module")
def dev(transformed_dev: Template) -> Stack:
    return Stack(transformed_dev, DEV)


@pytest.fixture(scope="module")
def prod(inlined: Template) -> Stack:
    return Stack(sam_transform(inlined, PROD_WITH_DOMAIN), PROD_WITH_DOMAIN)


@pytest.fixture(params=["dev", "prod"])
def stack(request: pytest.FixtureRequest, dev: Stack, prod: Stack) -> Stack:
    return dev if request.param == "dev" else prod


# ---------------------------------------------------------------------------------------------- devkit.core.template


def test_given_short_form_tags_when_parsed_then_they_become_long_form_intrinsics() -> None:
    text = """
    Ref: !Ref Param
    Sub: !Sub '${AWS::StackName}-x'
    SubList: !Sub ['${A}', {A: !Ref B}]
    GetAtt: !GetAtt Queue.Arn
    GetAttDeep: !GetAtt Api.RootResource.Id
    If: !If [Cond, !Equals [a, b], !Not [!Condition Other]]
    Logic: !And [!Or [!Condition A, !Condition B], !Condition C]
    Select: !Select [0, !Split [',', !Join [',', [a, b]]]]
    Map: !FindInMap [M, K, V]
    Import: !ImportValue Exported
    B64: !Base64 text
    Cidr: !Cidr [10.0.0.0/16, 2, 8]
    Azs: !GetAZs ''
    Include: !Transform {Name: AWS::Include, Parameters: {Location: s3://b/k.yaml}}
    Version: 2010-09-09
    """
    assert parse_template(text) == {
        "Ref": {"Ref": "Param"},
        "Sub": {"Fn::Sub": "${AWS::StackName}-x"},
        "SubList": {"Fn::Sub": ["${A}", {"A": {"Ref": "B"}}]},
        "GetAtt": {"Fn::GetAtt": ["Queue", "Arn"]},
        "GetAttDeep": {"Fn::GetAtt": ["Api", "RootResource.Id"]},
        "If": {"Fn::If": ["Cond", {"Fn::Equals": ["a", "b"]}, {"Fn::Not": [{"Condition": "Other"}]}]},
        "Logic": {"Fn::And": [{"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}, {"Condition": "C"}]},
        "Select": {"Fn::Select": [0, {"Fn::Split": [",", {"Fn::Join": [",", ["a", "b"]]}]}]},
        "Map": {"Fn::FindInMap": ["M", "K", "V"]},
        "Import": {"Fn::ImportValue": "Exported"},
        "B64": {"Fn::Base64": "text"},
        "Cidr": {"Fn::Cidr": ["10.0.0.0/16", 2, 8]},
        "Azs": {"Fn::GetAZs": ""},
        "Include": {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k.yaml"}}},
        # CloudFormation keeps dates as strings; a datetime.date would not even serialise to JSON.
        "Version": "2010-09-09",
    }


def test_given_local_and_remote_includes_when_inlined_then_only_local_files_are_replaced(
    tmp_path: Path,
) -> None:
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "model.json").write_text('{"type": "object", "pattern": "^\\\\S+$"}')
    (tmp_path / "snippets" / "extra.yaml").write_text("Key: !Ref Thing\nList: [1, 2]\n")
    (tmp_path / "template.yaml").write_text(
        """
        Resources:
          Api:
            Properties:
              Models:
                Local: {Fn::Transform: {Name: AWS::Include, Parameters: {Location: snippets/model.json}}}
                Remote: {Fn::Transform: {Name: AWS::Include, Parameters: {Location: s3://bucket/model.json}}}
              Nested: [{Fn::Transform: {Name: AWS::Include, Parameters: {Location: snippets/extra.yaml}}}]
              Macro: {Fn::Transform: {Name: MyMacro, Parameters: {Location: snippets/model.json}}}
        """
    )
    as_written = load_template(tmp_path / "template.yaml")
    inlined = load_template(tmp_path / "template.yaml", inline_includes=True)

    properties = inlined["Resources"]["Api"]["Properties"]
    assert properties["Models"]["Local"] == {"type": "object", "pattern": "^\\S+$"}
    assert properties["Models"]["Remote"] == as_written["Resources"]["Api"]["Properties"]["Models"]["Remote"]
    assert properties["Nested"] == [{"Key": {"Ref": "Thing"}, "List": [1, 2]}]
    assert properties["Macro"] == as_written["Resources"]["Api"]["Properties"]["Macro"]
    assert "Fn::Transform" in json.dumps(as_written["Resources"]["Api"]["Properties"]["Models"]["Local"])


def test_given_the_inlined_template_when_dumped_then_it_is_json_that_round_trips(inlined: Template) -> None:
    body = dump_template(inlined)
    assert json.loads(body) == inlined
    # The local deploy sends it from S3 (TemplateURL), which CloudFormation caps at 1 MB.
    assert len(body.encode()) < 1_000_000


# ---------------------------------------------------------------------------------------------- parameters, rules


def test_given_the_template_then_its_parameter_defaults_are_the_contracts(source: Template) -> None:
    assert parameter_values(source, {}) == CONTRACT_DEFAULTS


def test_given_the_default_parameters_then_the_queue_outlasts_six_writer_timeouts(source: Template) -> None:
    values = parameter_values(source, {})
    needed = 6 * int(values["WriterTimeout"]) + int(values["WriterBatchWindow"])
    assert int(values["QueueVisibilityTimeout"]) >= needed


@pytest.mark.parametrize("rate", ["0", "0.25", "0.5", "1", "1.0"])
def test_given_a_share_between_zero_and_one_then_the_fault_parameters_accept_it(
    source: Template, rate: str
) -> None:
    for name in ("WriterFaultRate", "WriterCrashRate"):
        assert re.fullmatch(source["Parameters"][name]["AllowedPattern"], rate)


@pytest.mark.parametrize("rate", ["", "2", "-1", "1.5", "abc", ".5"])
def test_given_anything_else_then_the_fault_parameters_refuse_it(source: Template, rate: str) -> None:
    for name in ("WriterFaultRate", "WriterCrashRate"):
        assert not re.fullmatch(source["Parameters"][name]["AllowedPattern"], rate)


def failing_rules(template: Template, overrides: Mapping[str, str]) -> set[str]:
    values = parameter_values(template, overrides)
    failing = set()
    for name, rule in template["Rules"].items():
        if not evaluate(rule.get("RuleCondition", True), template, values):
            continue
        if not all(evaluate(assertion["Assert"], template, values) for assertion in rule["Assertions"]):
            failing.add(name)
    return failing


@pytest.mark.parametrize(
    ("overrides", "refused_by"),
    [
        ({"StageName": "prod"}, set()),
        ({"StageName": "prod", "WriterFaultRate": "0.1"}, {"NoFaultInjectionInProd"}),
        ({"StageName": "prod", "WriterCrashRate": "0.5"}, {"NoFaultInjectionInProd"}),
        ({"StageName": "prod", "WriterSlowMarker": "e2e-slow-record"}, {"NoFaultInjectionInProd"}),
        ({"StageName": "dev", "WriterSlowMarker": "e2e-slow-record"}, set()),
        ({"StageName": "dev", "WriterFaultRate": "0.5", "WriterCrashRate": "0.5"}, set()),
        ({"StageName": "qa", "DomainName": "api.example.com"}, {"DomainNeedsHostedZone"}),
        (PROD_WITH_DOMAIN, set()),
    ],
)
def test_given_parameters_when_rules_are_checked_then_only_unsafe_sets_are_refused(
    transformed_dev: Template, overrides: dict[str, str], refused_by: set[str]
) -> None:
    assert failing_rules(transformed_dev, overrides) == refused_by


# ---------------------------------------------------------------------------------------------- physical names


NAME_PROPERTIES = {
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::ApiGateway::RestApi": "Name",
    "AWS::KMS::Alias": "AliasName",
}


def test_given_any_stage_then_no_resource_has_a_fixed_physical_name(stack: Stack) -> None:
    for logical_id, resource in stack.resources.items():
        name_property = NAME_PROPERTIES.get(resource["Type"])
        assert name_property not in resource.get("Properties", {}), logical_id


def test_given_any_stage_then_every_log_group_name_is_unique_to_the_stack(stack: Stack) -> None:
    for logical_id, resource in stack.of_type("AWS::Logs::LogGroup").items():
        name = json.dumps(resource["Properties"]["LogGroupName"])
        assert "Fn::Sub" in name, logical_id
        markers = (
            "${AWS::StackName}",
            "${ProductPurchaseApi}",
            *(f"${{{f}}}" for f in (*FUNCTIONS, *REALTIME_FUNCTIONS)),
        )
        assert any(marker in name for marker in markers), name


# ---------------------------------------------------------------------------------------------- queue, table, alarm


def test_given_any_stage_then_the_queue_is_encrypted_and_redrives_after_three_receives(stack: Stack) -> None:
    queue = stack.properties("PurchaseQueue")
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] == {"Ref": "QueueVisibilityTimeout"}
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["PurchaseDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }


def test_given_any_stage_then_the_dead_letter_queue_is_encrypted_and_keeps_messages_14_days(
    stack: Stack,
) -> None:
    dead_letters = stack.properties("PurchaseDeadLetterQueue")
    assert dead_letters["SqsManagedSseEnabled"] is True
    assert dead_letters["MessageRetentionPeriod"] == 1209600
    assert (
        dead_letters["MessageRetentionPeriod"] > stack.properties("PurchaseQueue")["MessageRetentionPeriod"]
    )


def test_given_any_stage_then_the_table_is_keyed_encrypted_on_demand_with_ttl_and_retained(
    stack: Stack,
) -> None:
    table = stack.resources["PurchaseTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    properties = table["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "ProductPurchaseId", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [
        {"AttributeName": "ProductPurchaseId", "AttributeType": "S"},
        {"AttributeName": LISTED, "AttributeType": "S"},
        {"AttributeName": LISTED_FOR, "AttributeType": "S"},
    ]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ExpiresAt", "Enabled": True}


def test_given_dev_then_the_table_has_no_point_in_time_recovery_nor_deletion_protection(dev: Stack) -> None:
    table = dev.properties("PurchaseTable")
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
    assert table["DeletionProtectionEnabled"] is False


def test_given_prod_then_the_table_has_point_in_time_recovery_and_deletion_protection(prod: Stack) -> None:
    table = prod.properties("PurchaseTable")
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionProtectionEnabled"] is True


def test_given_any_stage_then_a_message_in_the_dead_letter_queue_raises_the_alarm(stack: Stack) -> None:
    alarm = stack.properties("DeadLetterAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["PurchaseDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_given_any_stage_then_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(
    stack: Stack,
) -> None:
    assert stack.properties("AlarmTopic")["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = stack.properties("AlarmTopicKey")
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        statement
        for statement in key["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


# ---------------------------------------------------------------------------------------------- functions


EXPECTED_ENVIRONMENT = {
    "SenderFunction": {"QUEUE_URL", "IDEMPOTENCY_TABLE_NAME"},
    "ReaderFunction": set(),
    "WriterFunction": {"WRITER_FAULT_RATE", "WRITER_CRASH_RATE", "WRITER_SLOW_MARKER"},
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
        == {"WriterFunction": {"Ref": "WriterTimeout"}, "SenderFunction": 17, "ReaderFunction": 5}[function]
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
    for role in stack.of_type("AWS::IAM::Role"):
        for statement in role_statements(stack, role):
            for action in as_list(statement["Action"]):
                assert "*" not in action, (role, action)


def test_given_any_stage_then_only_xray_is_granted_on_every_resource(stack: Stack) -> None:
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


def test_given_any_stage_then_no_function_role_touches_the_dead_letter_queue(stack: Stack) -> None:
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


# ---------------------------------------------------------------------------------------------- API


ROUTES = {
    ("/product-purchase", "post"): "SenderFunction",
    ("/product-purchase/{id}", "put"): "SenderFunction",
    ("/product-purchase/{id}", "delete"): "SenderFunction",
    ("/product-purchase", "get"): "ReaderFunction",
    ("/product-purchase/{id}", "get"): "ReaderFunction",
}


def test_given_any_stage_then_each_route_reaches_its_function(stack: Stack) -> None:
    routes = {
        (path, method): integration_target(operation)
        for path, method, operation in stack.operations()
        if method != "options"
    }
    assert routes == ROUTES


def test_given_any_stage_then_the_stage_is_traced_and_access_logged_as_json_for_a_week(stack: Stack) -> None:
    stage = stack.only("AWS::ApiGateway::Stage")["Properties"]
    assert stage["StageName"] == {"Ref": "StageName"}
    assert stage["TracingEnabled"] is True
    access_log = stage["AccessLogSetting"]
    assert access_log["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(access_log["Format"])
    assert set(fields) >= {
        "requestId",
        "ip",
        "caller",
        "user",
        "requestTime",
        "httpMethod",
        "resourcePath",
        "status",
        "protocol",
        "responseLength",
        "integrationError",
        "clientId",
    }
    assert all(value.startswith("$context.") for value in fields.values())
    # The calling app client, as the Cognito authorizer read it from the access token
    assert fields["clientId"] == "$context.authorizer.claims.client_id"
    assert stack.properties("ApiAccessLogGroup")["RetentionInDays"] == RETENTION


def test_given_any_stage_then_execution_logs_keep_the_stages_retention(stack: Stack) -> None:
    execution_logs = stack.properties("ApiExecutionLogGroup")
    assert execution_logs["LogGroupName"] == {
        "Fn::Sub": "API-Gateway-Execution-Logs_${ProductPurchaseApi}/${StageName}"
    }
    assert execution_logs["RetentionInDays"] == RETENTION


def test_given_no_access_log_group_name_then_one_is_derived_from_stack_and_stage(
    dev: Stack, transformed_dev: Template
) -> None:
    assert dev.properties("ApiAccessLogGroup")["LogGroupName"] == {
        "Fn::Sub": "/aws/apigateway/${AWS::StackName}-${StageName}/access"
    }
    named = Stack(transformed_dev, {**DEV, "AccessLogGroup": "/custom/access"})
    assert named.properties("ApiAccessLogGroup")["LogGroupName"] == {"Ref": "AccessLogGroup"}


def method_settings(stack: Stack) -> Template:
    settings: Template
    (settings,) = stack.only("AWS::ApiGateway::Stage")["Properties"]["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["LoggingLevel"] == "INFO"
    assert settings["MetricsEnabled"] is True
    assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottleRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ThrottleBurstLimit"}
    return settings


def test_given_dev_then_execution_logs_carry_data_traces(dev: Stack) -> None:
    assert method_settings(dev)["DataTraceEnabled"] is True


def test_given_prod_then_execution_logs_never_carry_request_bodies(prod: Stack) -> None:
    assert method_settings(prod)["DataTraceEnabled"] is False


@pytest.mark.parametrize("stage", ["qa", "staging"])
def test_given_a_stage_with_production_like_data_then_execution_logs_carry_no_request_bodies(
    transformed_dev: Template, stage: str
) -> None:
    assert method_settings(Stack(transformed_dev, {"StageName": stage}))["DataTraceEnabled"] is False


@pytest.mark.parametrize(("stage", "days"), [("dev", 7), ("qa", 14), ("staging", 30), ("prod", 365)])
def test_given_a_stage_then_every_log_group_keeps_that_stages_retention_unless_overridden(
    transformed_dev: Template, stage: str, days: int
) -> None:
    # Given the stage's own default, and the same stage with LogRetentionInDays set
    default = Stack(transformed_dev, {"StageName": stage})
    overridden = Stack(transformed_dev, {"StageName": stage, "LogRetentionInDays": "90"})
    for logical_id in default.of_type("AWS::Logs::LogGroup"):
        # Then every log group keeps its events that long
        retention = default.properties(logical_id)["RetentionInDays"]
        assert evaluate(retention, transformed_dev, default.parameters) == days
        retention = overridden.properties(logical_id)["RetentionInDays"]
        assert int(evaluate(retention, transformed_dev, overridden.parameters)) == 90


@pytest.mark.parametrize("path", ["/product-purchase", "/product-purchase/{id}"])
def test_given_any_stage_then_preflight_allows_every_method_and_the_idempotency_header(
    stack: Stack, path: str
) -> None:
    preflight = stack.api_body["paths"][path]["options"]["x-amazon-apigateway-integration"]
    headers = preflight["responses"]["default"]["responseParameters"]
    assert headers["method.response.header.Access-Control-Allow-Origin"] == "'*'"
    assert headers["method.response.header.Access-Control-Allow-Methods"] == CORS_ALLOW_METHODS
    assert headers["method.response.header.Access-Control-Allow-Headers"] == CORS_ALLOW_HEADERS


@pytest.mark.parametrize("response_type", ["DEFAULT_4XX", "DEFAULT_5XX"])
def test_given_api_gateway_answers_itself_then_the_answer_has_cors_headers_and_the_error_shape(
    stack: Stack, response_type: str
) -> None:
    response = stack.api_body["x-amazon-apigateway-gateway-responses"][response_type]
    headers = response["responseParameters"]
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
    assert headers["gatewayresponse.header.Access-Control-Allow-Methods"] == CORS_ALLOW_METHODS
    assert headers["gatewayresponse.header.Access-Control-Allow-Headers"] == CORS_ALLOW_HEADERS
    assert headers["gatewayresponse.header.Access-Control-Expose-Headers"] == "'Location,Link'"
    # API Gateway substitutes messageString with the message as a quoted JSON string.
    rendered = response["responseTemplates"]["application/json"].replace(
        "$context.error.messageString", '"Invalid request body"'
    )
    assert json.loads(rendered) == {"message": "Invalid request body", "errors": []}


def test_given_any_stage_then_post_and_put_bodies_are_validated_against_the_schema_file(stack: Stack) -> None:
    schema = json.loads(SCHEMA.read_text())
    validators = stack.api_body["x-amazon-apigateway-request-validators"]
    validated = set()
    for path, method, operation in stack.operations():
        if "x-amazon-apigateway-request-validator" not in operation:
            continue
        validated.add((path, method))
        assert validators[operation["x-amazon-apigateway-request-validator"]]["validateRequestBody"] is True
        assert operation["requestBody"]["required"] is True
        assert stack.api_body["components"]["schemas"][model_name(operation)] == schema
    assert validated == {("/product-purchase", "post"), ("/product-purchase/{id}", "put")}


def test_given_the_template_source_then_the_model_is_included_from_the_schema_file_not_copied(
    source: Template,
) -> None:
    models = source["Resources"]["ProductPurchaseApi"]["Properties"]["Models"]
    assert models == {"Purchase": SCHEMA_INCLUDE}
    assert "TimeOfPurchase" not in TEMPLATE.read_text()


def test_given_any_stage_then_the_api_is_regional_and_compresses_large_answers(stack: Stack) -> None:
    api = stack.properties("ProductPurchaseApi")
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert api["MinimumCompressionSize"] == 1024


# ---------------------------------------------------------------------------------------------- custom domain


DOMAIN_TYPES = (
    "AWS::CertificateManager::Certificate",
    "AWS::ApiGateway::DomainName",
    "AWS::ApiGateway::BasePathMapping",
    "AWS::Route53::RecordSet",
)


def test_given_no_domain_then_no_domain_resources_exist(dev: Stack) -> None:
    assert not [lid for lid, res in dev.resources.items() if res["Type"] in DOMAIN_TYPES]


def test_given_a_domain_then_a_dns_validated_certificate_fronts_a_regional_tls12_domain(prod: Stack) -> None:
    certificate = prod.properties("ApiCertificate")
    assert certificate["DomainName"] == {"Ref": "DomainName"}
    assert certificate["ValidationMethod"] == "DNS"
    assert certificate["DomainValidationOptions"] == [
        {"DomainName": {"Ref": "DomainName"}, "HostedZoneId": {"Ref": "HostedZoneId"}}
    ]
    domain = prod.properties("ApiCustomDomain")
    assert domain["SecurityPolicy"] == "TLS_1_2"
    assert domain["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert domain["RegionalCertificateArn"] == {"Ref": "ApiCertificate"}


def test_given_a_domain_then_it_maps_to_the_stage_and_resolves_to_the_regional_endpoint(prod: Stack) -> None:
    (stage_id,) = prod.of_type("AWS::ApiGateway::Stage")
    mapping = prod.properties("ApiBasePathMapping")
    assert mapping["RestApiId"] == {"Ref": "ProductPurchaseApi"}
    assert mapping["Stage"] == {"Ref": stage_id}
    assert mapping["DomainName"] == {"Ref": "ApiCustomDomain"}
    record = prod.properties("ApiDnsRecord")
    assert (record["Type"], record["Name"], record["HostedZoneId"]) == (
        "A",
        {"Ref": "DomainName"},
        {"Ref": "HostedZoneId"},
    )
    assert record["AliasTarget"]["DNSName"] == {"Fn::GetAtt": ["ApiCustomDomain", "RegionalDomainName"]}
    assert record["AliasTarget"]["HostedZoneId"] == {
        "Fn::GetAtt": ["ApiCustomDomain", "RegionalHostedZoneId"]
    }


# ---------------------------------------------------------------------------------------------- outputs


CONTRACT_OUTPUTS = {
    "ProductPurchaseApi",
    "ApiId",
    "StageName",
    "QueueUrl",
    "DeadLetterQueueUrl",
    "TableName",
    "SenderFunctionName",
    "ReaderFunctionName",
    "WriterFunctionName",
    "SenderRoleArn",
    "ReaderRoleArn",
    "WriterRoleArn",
    "AlarmTopicArn",
    "UserPoolId",
    "UserPoolArn",
    "IssuerUrl",
    "TokenUrl",
    "AccessTokenMinutes",
    "IdempotencyTableName",
    # Real-time notifications (test_template_realtime checks them).
    "WebSocketUrl",
    "NotificationApiId",
    "ConnectionTableName",
    "NotifierFunctionName",
    "ConnectionsFunctionName",
    "AuthorizerFunctionName",
    "NotifierRoleArn",
    "ConnectionsRoleArn",
    "AuthorizerRoleArn",
    "NotificationFailureQueueUrl",
    "MaxConnectionsPerClient",
}


def test_given_no_domain_then_the_outputs_are_the_contract_ones(dev: Stack) -> None:
    # A non-prod stage also names its development client.
    assert set(dev.outputs) == CONTRACT_OUTPUTS | {"DevelopmentClientId"}


def test_given_a_domain_then_the_outputs_add_the_custom_domain_url(prod: Stack) -> None:
    # Prod has no development client: its consumers each get their own.
    assert set(prod.outputs) == CONTRACT_OUTPUTS | {"CustomDomainUrl"}
    assert prod.outputs["CustomDomainUrl"]["Value"] == {"Fn::Sub": "https://${DomainName}/product-purchase/"}


def test_given_any_stage_then_the_api_output_is_the_stage_collection_url(stack: Stack) -> None:
    assert stack.outputs["ProductPurchaseApi"]["Value"] == {
        "Fn::Sub": "https://${ProductPurchaseApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}"
        "/product-purchase/"
    }


# ---------------------------------------------------------------------------------------------- samconfig, lint


def test_given_samconfig_then_each_stage_deploys_its_own_stack_and_only_prod_asks_first() -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    assert config["default"]["validate"]["parameters"]["lint"] is True
    for stage in ("dev", "qa", "staging", "prod"):
        assert config[stage]["global"]["parameters"]["stack_name"] == f"product-purchase-{stage}"
        deploy = config[stage]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["parameter_overrides"] == f"StageName={stage}"
        assert deploy["resolve_s3"] is True
        assert deploy["fail_on_empty_changeset"] is False
        assert deploy["confirm_changeset"] is (stage == "prod")


# Rule id -> why it is acceptable here. Empty: cfn-lint has nothing to say today.
ALLOWED_LINT_WARNINGS: dict[str, str] = {}


@pytest.mark.parametrize("form", ["as written", "inlined"])
def test_given_the_template_when_linted_then_cfn_lint_reports_no_error_or_warning(
    tmp_path: Path, form: str
) -> None:
    # cfn-lint reads the local AWS::Include as it stands; the inlined form is what the local deploy sends.
    path = TEMPLATE
    if form == "inlined":
        path = tmp_path / "template.json"
        path.write_text(dump_template(load_template(TEMPLATE, inline_includes=True)))
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    findings = [
        f"{match.rule.id} {match.message} (line {match.linenumber})"
        for match in matches
        if match.rule.id[0] in "EW" and match.rule.id not in ALLOWED_LINT_WARNINGS
    ]
    assert findings == []


# ---------------------------------------------------------------------------------------------- authentication

SCOPE_OF_METHOD = {"get": "purchases/read", "post": "purchases/write", "put": "purchases/write"}
SCOPE_OF_METHOD["delete"] = "purchases/write"


def authorizer(stack: Stack) -> tuple[str, Template]:
    schemes = stack.api_body["components"]["securitySchemes"]
    assert len(schemes) == 1, schemes
    ((name, scheme),) = schemes.items()
    return name, scheme


def test_given_any_stage_then_the_authorizer_checks_tokens_of_the_stages_own_user_pool(stack: Stack) -> None:
    _, scheme = authorizer(stack)
    assert scheme["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert scheme["in"] == "header" and scheme["name"] == "Authorization"
    assert scheme["x-amazon-apigateway-authorizer"]["providerARNs"] == [{"Fn::GetAtt": ["UserPool", "Arn"]}]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_given_any_stage_then_every_method_but_the_preflight_needs_a_token_with_its_scope(
    dev: Stack, prod: Stack, stage: str
) -> None:
    stack = dev if stage == "dev" else prod
    name, _ = authorizer(stack)
    seen = set()
    for path, method, operation in stack.operations():
        if method == "options":
            # The preflight stays open: browsers never send credentials with it.
            assert "security" not in operation or operation["security"] == [{"NONE": []}], (path, operation)
            continue
        assert operation["security"] == [{name: [SCOPE_OF_METHOD[method]]}], (path, method)
        seen.add((path, method))
    assert len(seen) == 5, seen


def test_given_any_stage_then_the_gateways_401_has_the_error_shape_cors_and_names_the_bearer_scheme(
    stack: Stack,
) -> None:
    response = stack.api_body["x-amazon-apigateway-gateway-responses"]["UNAUTHORIZED"]
    assert str(response["statusCode"]) == "401"
    headers = response["responseParameters"]
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
    assert headers["gatewayresponse.header.Access-Control-Allow-Headers"] == CORS_ALLOW_HEADERS
    assert headers["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"
    rendered = response["responseTemplates"]["application/json"].replace(
        "$context.error.messageString", '"Unauthorized"'
    )
    assert json.loads(rendered) == {"message": "Unauthorized", "errors": []}


def test_given_any_stage_then_the_resource_server_has_the_read_write_and_admin_scopes(stack: Stack) -> None:
    server = stack.only("AWS::Cognito::UserPoolResourceServer")["Properties"]
    assert server["Identifier"] == "purchases"
    assert server["UserPoolId"] == {"Ref": "UserPool"}
    scopes = {f"{server['Identifier']}/{scope['ScopeName']}" for scope in server["Scopes"]}
    assert scopes == {"purchases/read", "purchases/write", ADMIN_SCOPE}


def test_given_any_stage_then_the_domain_prefix_is_unique_per_account_and_stage(stack: Stack) -> None:
    domain = stack.only("AWS::Cognito::UserPoolDomain")["Properties"]
    assert domain["Domain"] == {"Fn::Sub": "purchases-${StageName}-${AWS::AccountId}"}
    assert stack.outputs["TokenUrl"]["Value"] == {
        "Fn::Sub": "https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com/oauth2/token"
    }


def test_given_any_stage_then_nobody_signs_up_to_the_pool(stack: Stack) -> None:
    pool = stack.only("AWS::Cognito::UserPool")["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_given_dev_then_a_development_client_may_ask_for_every_scope_by_client_credentials_only(
    dev: Stack,
) -> None:
    client = dev.only("AWS::Cognito::UserPoolClient")["Properties"]
    assert client["GenerateSecret"] is True
    assert client["AllowedOAuthFlows"] == ["client_credentials"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(client["AllowedOAuthScopes"]) == sorted(["purchases/read", "purchases/write", ADMIN_SCOPE])
    assert client["AccessTokenValidity"] == {"Ref": "AccessTokenMinutes"}
    assert client["TokenValidityUnits"] == {"AccessToken": "minutes"}


def test_given_prod_then_there_is_no_development_client(prod: Stack) -> None:
    assert prod.of_type("AWS::Cognito::UserPoolClient") == {}


def test_given_a_custom_domain_then_the_execute_api_endpoint_is_disabled(dev: Stack, prod: Stack) -> None:
    def disabled(stack: Stack) -> Any:
        (server,) = stack.api_body["servers"]
        return server["x-amazon-apigateway-endpoint-configuration"]["disableExecuteApiEndpoint"]

    assert disabled(prod) is True
    assert disabled(dev) is False


def test_given_any_stage_then_idempotency_records_have_their_own_table_with_powertools_layout(
    stack: Stack,
) -> None:
    table = stack.properties("IdempotencyTable")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert stack.properties("SenderFunction")["Environment"]["Variables"]["IDEMPOTENCY_TABLE_NAME"] == {
        "Ref": "IdempotencyTable"
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


@pytest.mark.parametrize(("function", "calls"), [("SenderFunction", 4), ("ReaderFunction", 1)])
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
