"""What the template tests share: the template as CloudFormation reads it (SAM-transformed offline, conditions
evaluated for a parameter set), the parameter sets, and helpers that read resources and grants. No network."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform

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
    # Empty: SAM's own publishing rule; the tooling passes each function's version key (devkit.delivery.versions).
    **{
        f"{function}FunctionSha256": ""
        for function in ("Sender", "Reader", "Writer", "Authorizer", "Connections", "Notifier", "Sweeper")
    },
}
FUNCTIONS = ("SenderFunction", "ReaderFunction", "WriterFunction")
# Without LogRetentionInDays, every log group keeps the stage's retention.
RETENTION = {"Fn::FindInMap": ["StageLogRetention", {"Ref": "StageName"}, "Days"]}
# The WebSocket side's functions; test_template_realtime checks them.
REALTIME_FUNCTIONS = ("AuthorizerFunction", "ConnectionsFunction", "NotifierFunction", "SweeperFunction")
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


ROUTES = {
    ("/product-purchase", "post"): "SenderFunction",
    ("/product-purchase/{id}", "put"): "SenderFunction",
    ("/product-purchase/{id}", "delete"): "SenderFunction",
    ("/product-purchase", "get"): "ReaderFunction",
    ("/product-purchase/{id}", "get"): "ReaderFunction",
}
