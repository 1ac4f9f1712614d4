"""The template's parameters and rules, its resources' physical names, samconfig and cfn-lint."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file
from template_stack import (
    CONTRACT_DEFAULTS,
    FUNCTIONS,
    PROD_WITH_DOMAIN,
    REALTIME_FUNCTIONS,
    REPO,
    TEMPLATE,
    Stack,
    Template,
    evaluate,
    parameter_values,
)

from devkit.core.template import dump_template, load_template

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
    assert any(resource["Type"] in NAME_PROPERTIES for resource in stack.resources.values())
    for logical_id, resource in stack.resources.items():
        name_property = NAME_PROPERTIES.get(resource["Type"])
        assert name_property not in resource.get("Properties", {}), logical_id


def test_given_any_stage_then_every_log_group_name_is_unique_to_the_stack(stack: Stack) -> None:
    assert stack.of_type("AWS::Logs::LogGroup")
    for logical_id, resource in stack.of_type("AWS::Logs::LogGroup").items():
        name = json.dumps(resource["Properties"]["LogGroupName"])
        assert "Fn::Sub" in name, logical_id
        markers = (
            "${AWS::StackName}",
            "${ProductPurchaseApi}",
            *(f"${{{f}}}" for f in (*FUNCTIONS, *REALTIME_FUNCTIONS)),
        )
        assert any(marker in name for marker in markers), name


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
