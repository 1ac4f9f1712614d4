"""The least-privilege comparison, without an engine: IAM's wildcard rules for actions and resource ARNs, which grants
count as used, unused or used by AWS itself, and what the template's roles are after the SAM transform."""

from __future__ import annotations

import pytest

from devkit.core.template import translate
from devkit.stack.iam_report import (
    BY_AWS,
    SQS_EVENT_SOURCE,
    STREAM_EVENT_SOURCE,
    UNUSED,
    USED,
    Call,
    Grant,
    action_matches,
    compare,
    resource_matches,
    template_roles,
)

TABLE = "arn:aws:dynamodb:us-east-1:000000000000:table/purchases"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:writes"
WRITER = "product-purchase-dev-WriterFunction-ABC"
WRITER_CALLER = f"arn:aws:sts::000000000000:assumed-role/WriterRole-X/{WRITER}"
PROBE_CALLER = "arn:aws:sts::000000000000:assumed-role/WriterRole-X/e2e-writer-1234"


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("dynamodb:*", "dynamodb:GetItem", True),
        ("dynamodb:*", "sqs:SendMessage", False),
        ("DynamoDB:getitem", "dynamodb:GetItem", True),  # actions ignore case
        ("dynamodb:Get*", "dynamodb:GetRecords", True),
        ("dynamodb:Get*", "dynamodb:BatchGetItem", False),
        ("sqs:?eceiveMessage", "sqs:ReceiveMessage", True),
        ("*", "kms:Decrypt", True),
        ("dynamodb:GetItem", "dynamodb:GetItems", False),
    ],
)
def test_actions_match_with_iam_wildcards_ignoring_case(pattern: str, action: str, matches: bool) -> None:
    assert action_matches(pattern, action) is matches


@pytest.mark.parametrize(
    ("pattern", "resource", "matches"),
    [
        (TABLE, TABLE, True),
        (TABLE, f"{TABLE}/index/LivePurchases", False),  # a table grant does not reach its indexes
        (f"{TABLE}/index/*", f"{TABLE}/index/LivePurchases", True),
        (f"{TABLE}/index/*", TABLE, False),
        (
            "arn:aws:dynamodb:*:*:table/*",
            f"{TABLE}/stream/2026-12-04T00:00:00.000",
            True,
        ),  # * crosses / and :
        ("*", QUEUE, True),
        (TABLE.upper(), TABLE, False),  # resources keep case
        ("arn:aws:sqs:us-east-1:000000000000:write?", QUEUE, True),
    ],
)
def test_resources_match_with_iam_wildcards_keeping_case(pattern: str, resource: str, matches: bool) -> None:
    assert resource_matches(pattern, resource) is matches


def test_grants_are_used_unused_or_used_by_aws_and_denied_calls_are_listed() -> None:
    # Given a role granting a table write, a table delete it never makes, the queue polling and a wildcard
    grants = [
        Grant("p", "dynamodb:PutItem", TABLE, "PurchaseTable.Arn"),
        Grant("p", "dynamodb:DeleteItem", TABLE, "PurchaseTable.Arn"),
        Grant("p", "sqs:ReceiveMessage", QUEUE, "PurchaseQueue.Arn"),
        Grant("p", "dynamodb:Get*", f"{TABLE}/index/*", "${PurchaseTable.Arn}/index/*"),
    ]
    # And the calls the engine evaluated: the function's writes and index reads, a denied read of the table
    # itself, and a test's session probing a delete with the same role
    calls = [
        Call(WRITER_CALLER, "dynamodb:PutItem", TABLE, "Allow", 7),
        Call(WRITER_CALLER, "dynamodb:GetItem", f"{TABLE}/index/ByOwner", "Allow", 2),
        Call(WRITER_CALLER, "dynamodb:GetItem", TABLE, "ImplicitDeny", 1),
        Call(PROBE_CALLER, "dynamodb:DeleteItem", TABLE, "Allow", 1),
    ]

    # When they are compared
    uses, denied, ungranted, others = compare(
        grants, calls, functions=[WRITER], by_aws=[(SQS_EVENT_SOURCE, QUEUE, "Lambda polls")]
    )

    # Then each grant has its verdict, and the probe's delete does not count as the function's use
    assert [(use.grant.action, use.calls, use.verdict) for use in uses] == [
        ("dynamodb:PutItem", 7, USED),
        ("dynamodb:DeleteItem", 0, UNUSED),
        ("sqs:ReceiveMessage", 0, BY_AWS),
        ("dynamodb:Get*", 2, USED),
    ]
    assert uses[2].why == "Lambda polls"
    # And the denied call is reported, the probe's call is the other sessions'
    assert denied == [calls[2]]
    assert others == [calls[3]]
    assert ungranted == []


def test_an_allowed_call_that_no_grant_covers_is_reported() -> None:
    calls = [Call(WRITER_CALLER, "sqs:SendMessage", QUEUE, "Allow", 3)]
    _, _, ungranted, _ = compare([Grant("p", "dynamodb:PutItem", TABLE, "T")], calls, functions=[WRITER])
    assert ungranted == calls


def test_a_role_only_an_aws_service_assumes_is_used_by_aws_throughout() -> None:
    uses, *_ = compare(
        [Grant("managed", "lambda:UpdateAlias", "*", "*")],
        [],
        functions=[],
        whole_role_by_aws="assumed only by codedeploy.amazonaws.com",
    )
    assert [(use.verdict, use.why) for use in uses] == [(BY_AWS, "assumed only by codedeploy.amazonaws.com")]


def test_the_templates_roles_carry_their_policies_functions_and_event_sources() -> None:
    # Given the template after the SAM transform
    roles = template_roles(translate())

    # Then each function role names its function, its inline policies and its separate policies (logs, and the
    # signing key's: the writer verifies, the sender signs)
    writer = roles["WriterRole"]
    assert writer.functions == ["WriterFunction"]
    assert set(writer.inline) == {"apply-purchase-writes", "verify-purchase-writes", "write-own-logs"}
    assert set(roles["SenderRole"].inline) == {
        "queue-purchase-writes",
        "sign-purchase-writes",
        "write-own-logs",
    }
    # And the sweeper's role is its own, and the schedule that invokes it needs nothing of the role
    sweeper = roles["SweeperRole"]
    assert sweeper.functions == ["SweeperFunction"]
    assert set(sweeper.inline) == {"close-ended-sessions", "write-own-logs"}
    # And AWS's own uses of it: logs, tracing and the SQS event source's polling
    assert any(actions == SQS_EVENT_SOURCE for actions, _, _ in writer.by_aws)
    assert any(actions == STREAM_EVENT_SOURCE for actions, _, _ in roles["NotifierRole"].by_aws)
    # And the notifier's on-failure destination is sent to by Lambda
    assert any(actions == ("sqs:SendMessage",) for actions, _, _ in roles["NotifierRole"].by_aws)
    # And CodeDeploy's role is trusted by CodeDeploy only, with the managed policy it carries
    deployment = roles["DeploymentRole"]
    assert deployment.trusted_services == ("codedeploy.amazonaws.com",)
    assert deployment.functions == [] and deployment.managed
