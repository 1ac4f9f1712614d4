"""The least-privilege report on a private MiniStack with IAM enforced and the stack deployed: a grant the function
never uses and a call its role is refused, both planted, are both reported, from the engine's own IAM decisions."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devkit.core.http import call
from devkit.core.project import stack_name
from devkit.core.template import translate
from devkit.core.waiting import wait_for
from devkit.engines.ministack import MiniStack
from devkit.stack import iam_report
from devkit.stack.auth import authorization_header
from devkit.stack.outputs import reachable_outputs
from devkit.stack.stacks import stack_functions
from seed.send import load_samples

from .private import deployed_engine

STAGE = "dev"
REQUEST_TIMEOUT = 60.0
APPLIED_TIMEOUT = 30.0
WRITER_POLICY = "apply-purchase-writes"
# The planted grant: the writer's role may also delete purchases, which its function never does.
PLANTED = {"Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": None}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiniStack]:
    with deployed_engine(tmp_path_factory.mktemp("iam")) as private:
        yield private


def _physical(engine: MiniStack) -> dict[str, str]:
    resources = engine.client("cloudformation").describe_stack_resources(StackName=stack_name(STAGE))
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]}


def _plant_grant(engine: MiniStack, template: dict[str, Any], table_arn: str) -> None:
    """The writer's policy with one more statement, in the template and in the deployed role alike (as a deploy of
    that template would leave it)."""
    role_name = _physical(engine)["WriterRole"]
    iam = engine.client("iam")
    deployed = iam.get_role_policy(RoleName=role_name, PolicyName=WRITER_POLICY)["PolicyDocument"]
    deployed = json.loads(deployed) if isinstance(deployed, str) else deployed
    deployed["Statement"].append({**PLANTED, "Resource": table_arn})
    iam.put_role_policy(RoleName=role_name, PolicyName=WRITER_POLICY, PolicyDocument=json.dumps(deployed))
    policies = template["Resources"]["WriterRole"]["Properties"]["Policies"]
    written = next(policy for policy in policies if policy["PolicyName"] == WRITER_POLICY)
    written["PolicyDocument"]["Statement"].append(
        {**PLANTED, "Resource": {"Fn::GetAtt": ["PurchaseTable", "Arn"]}}
    )


def _as_writer_function(engine: MiniStack, role_arn: str, function_name: str) -> Any:
    """A DynamoDB client with the writer's role, in a session named as Lambda names the function's own."""
    sts = engine.client("sts")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=function_name)["Credentials"]
    return boto3.client(
        "dynamodb",
        endpoint_url=engine.endpoint_url(),
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_a_planted_unused_grant_and_a_denied_call_are_both_reported(engine: MiniStack) -> None:
    # Given the report's record started afresh, and a template whose writer role also grants DeleteItem
    engine.forget_iam_decisions()
    outputs = reachable_outputs(engine, STAGE)
    table_arn = engine.client("dynamodb").describe_table(TableName=outputs["TableName"])["Table"]["TableArn"]
    template = copy.deepcopy(translate())
    _plant_grant(engine, template, table_arn)

    # When a purchase is written through the API (the writer puts it in the table)
    api = outputs["ProductPurchaseApi"].rstrip("/")
    headers = authorization_header(engine, outputs)
    reply = call("POST", api, load_samples()[0], headers=headers, timeout=REQUEST_TIMEOUT)
    assert reply.status == 202, reply.body
    purchase_id = reply.json()["ProductPurchaseId"]
    wait_for(
        lambda: call("GET", f"{api}/{purchase_id}", headers=headers, timeout=REQUEST_TIMEOUT).status == 200,
        timeout=APPLIED_TIMEOUT,
        interval=0.2,
        what=f"purchase {purchase_id} to be applied",
    )
    # And the writer's function (its role, its session name) reads the table, which its role does not allow
    writer = stack_functions(engine, stack_name(STAGE))["WriterFunction"]
    dynamodb = _as_writer_function(engine, outputs["WriterRoleArn"], writer)
    with pytest.raises(dynamodb.exceptions.ClientError, match="AccessDenied"):
        dynamodb.get_item(TableName=outputs["TableName"], Key={"ProductPurchaseId": {"S": purchase_id}})

    # Then the report of the engine's recorded decisions shows both
    _, calls = iam_report.recorded_calls(engine)
    reports, _ = iam_report.role_reports(engine, STAGE, calls, template=template)
    report = next(report for report in reports if report.logical_id == "WriterRole")
    verdicts = {(use.grant.action, use.grant.resource): use for use in report.grants}
    # the planted grant, never used
    assert verdicts[("dynamodb:DeleteItem", table_arn)].verdict == iam_report.UNUSED
    assert verdicts[("dynamodb:DeleteItem", table_arn)].grant.shown_resource == "PurchaseTable.Arn"
    # the write the function did make, used
    assert verdicts[("dynamodb:PutItem", table_arn)].verdict == iam_report.USED
    # and the denied read, as the function's own call
    assert [(c.action, c.resource, c.decision) for c in report.denied] == [
        ("dynamodb:GetItem", table_arn, "ImplicitDeny")
    ]
    assert report.denied[0].role_and_session == (report.role_name, writer)
