"""Following and stopping CodeDeploy traffic shifts (in-memory fakes: no CodeDeploy runs here), picking the change
set `sam deploy` made, and pushing code to aliased functions (moto's Lambda)."""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devkit.core.project import ToolingError
from devkit.delivery import deploy
from devkit.delivery.aws import (
    PipelineResources,
    deploy_stage,
    follow_stack_update,
    new_change_set,
    stop_running_deployments,
)
from devkit.delivery.packaging import CodeBundle

STACK = "product-purchase-prod"
SINCE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
GROUPS = [
    "product-purchase-prod-SenderFunctionDeploymentGroup-A",
    "product-purchase-prod-WriterFunctionDeploymentGroup-B",
]


@dataclass
class Shift:
    """One CodeDeploy deployment as successive polls see it: (status, weight of the new version)."""

    group: str
    steps: list[tuple[str, float]]
    error: str = ""
    stopped_with_rollback: bool | None = None
    polls: int = 0

    def now(self) -> tuple[str, float]:
        return self.steps[min(self.polls, len(self.steps) - 1)]


@dataclass
class FakeAws:
    """CloudFormation + CodeDeploy, scripted: each describe_stacks is one poll and advances every shift."""

    stack_statuses: list[str]
    shifts: dict[str, Shift] = field(default_factory=dict)
    polls: int = 0
    cancelled: bool = False

    # -- CloudFormation
    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        status = self.stack_statuses[min(self.polls, len(self.stack_statuses) - 1)]
        self.polls += 1
        for shift in self.shifts.values():
            shift.polls = self.polls - 1
        return {"Stacks": [{"StackName": StackName, "StackStatus": status}]}

    def describe_stack_resources(self, StackName: str) -> dict[str, Any]:
        resources = [{"ResourceType": "AWS::CodeDeploy::Application", "PhysicalResourceId": "app"}]
        resources += [
            {"ResourceType": "AWS::CodeDeploy::DeploymentGroup", "PhysicalResourceId": g} for g in GROUPS
        ]
        resources += [{"ResourceType": "AWS::Lambda::Function", "PhysicalResourceId": "fn"}]
        return {"StackResources": resources}

    def cancel_update_stack(self, StackName: str) -> None:
        self.cancelled = True

    # -- CodeDeploy
    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_deployments"
        fake = self

        class Paginator:
            def paginate(self, **arguments: Any) -> Iterator[dict[str, Any]]:
                assert arguments["applicationName"] == "app"
                assert arguments["createTimeRange"]["start"] <= datetime.datetime.now(datetime.UTC)
                wanted = arguments.get("includeOnlyStatuses")
                ids = [
                    deployment_id
                    for deployment_id, shift in fake.shifts.items()
                    if shift.group == arguments["deploymentGroupName"]
                    and (not wanted or shift.now()[0] in wanted)
                ]
                yield {"deployments": ids}

        return Paginator()

    def get_deployment(self, deploymentId: str) -> dict[str, Any]:
        shift = self.shifts[deploymentId]
        status, _ = shift.now()
        info: dict[str, Any] = {"deploymentGroupName": shift.group, "status": status}
        if status in ("Failed", "Stopped"):
            info["errorInformation"] = {"code": "ALARM_ACTIVE", "message": shift.error}
            info["rollbackInfo"] = {"rollbackMessage": "Rolled back to version 6."}
        return {"deploymentInfo": info}

    def list_deployment_targets(self, deploymentId: str) -> dict[str, Any]:
        return {"targetIds": [f"fn:live-{deploymentId}"]}

    def get_deployment_target(self, deploymentId: str, targetId: str) -> dict[str, Any]:
        _, weight = self.shifts[deploymentId].now()
        info = {
            "functionName": "fn",
            "functionAlias": "live",
            "currentVersion": "6",
            "targetVersion": "7",
            "targetVersionWeight": weight,
        }
        return {"deploymentTarget": {"lambdaTarget": {"lambdaFunctionInfo": info}}}

    def stop_deployment(self, deploymentId: str, autoRollbackEnabled: bool) -> None:
        self.shifts[deploymentId].stopped_with_rollback = autoRollbackEnabled


def follow(fake: FakeAws) -> tuple[str | None, list[str]]:
    lines: list[str] = []
    try:
        status: str | None = follow_stack_update(
            fake, fake, STACK, since=SINCE, progress=lines.append, interval=0
        )
    except ToolingError as error:
        lines.append(f"ERROR {error}")
        status = None
    return status, lines


def test_given_a_canary_that_stays_healthy_when_followed_then_each_step_is_printed_once_until_complete() -> (
    None
):
    # Given a prod canary: 10 % for a while, then 100 %, then the stack completes
    canary = [("InProgress", 0.1), ("InProgress", 0.1), ("InProgress", 0.1), ("Succeeded", 1.0)]
    fake = FakeAws(
        stack_statuses=["UPDATE_IN_PROGRESS"] * 4
        + ["UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"],
        shifts={"d-SENDER": Shift(GROUPS[0], canary), "d-WRITER": Shift(GROUPS[1], canary)},
    )
    # When the deploy is followed
    status, lines = follow(fake)
    # Then it ends in UPDATE_COMPLETE, having shown 10 % and then 100 % on the new version for each alias
    assert status == "UPDATE_COMPLETE"
    sender = [line for line in lines if "d-SENDER" in line]
    assert sender == [
        f"{GROUPS[0]} d-SENDER: InProgress, 10% of fn:live on version 7 (was 6)",
        f"{GROUPS[0]} d-SENDER: Succeeded, 100% of fn:live on version 7 (was 6)",
    ]
    assert lines[0] == f"Stack {STACK}: UPDATE_IN_PROGRESS"
    assert lines[-1] == f"Stack {STACK}: UPDATE_COMPLETE"


def test_given_an_alarm_during_the_canary_when_followed_then_the_rollback_is_reported_as_a_failure() -> None:
    # Given a canary that an alarm stops at 10 %, after which CloudFormation rolls the stack back
    canary = [("InProgress", 0.1), ("Stopped", 0.0)]
    fake = FakeAws(
        stack_statuses=["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"],
        shifts={"d-SENDER": Shift(GROUPS[0], canary, error="Alarm SenderErrorsAlarm is in ALARM")},
    )
    # When the deploy is followed
    status, lines = follow(fake)
    # Then the task fails, naming the alarm and the rollback
    assert status is None
    assert any("Stopped" in line and "SenderErrorsAlarm" in line and "Rolled back" in line for line in lines)
    assert lines[-1].startswith("ERROR ") and "rolled back (UPDATE_ROLLBACK_COMPLETE)" in lines[-1]


def test_given_a_deploy_without_traffic_shift_when_followed_then_the_stack_alone_decides() -> None:
    fake = FakeAws(stack_statuses=["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"])
    assert follow(fake) == (
        "UPDATE_COMPLETE",
        [f"Stack {STACK}: UPDATE_IN_PROGRESS", f"Stack {STACK}: UPDATE_COMPLETE"],
    )


def test_given_a_running_canary_when_rolled_back_by_hand_then_it_is_stopped_with_automatic_rollback() -> None:
    # Given one shift in progress and one already finished
    fake = FakeAws(
        stack_statuses=["UPDATE_IN_PROGRESS"],
        shifts={
            "d-RUNNING": Shift(GROUPS[0], [("InProgress", 0.1)]),
            "d-DONE": Shift(GROUPS[1], [("Succeeded", 1.0)]),
        },
    )
    lines: list[str] = []
    # When `invoke rollback` runs
    stopped = stop_running_deployments(fake, fake, STACK, progress=lines.append)
    # Then only the running one is stopped, with rollback, and nothing else is cancelled
    assert stopped == ["d-RUNNING"]
    assert fake.shifts["d-RUNNING"].stopped_with_rollback is True
    assert fake.shifts["d-DONE"].stopped_with_rollback is None
    assert not fake.cancelled


def test_given_an_update_with_no_shift_yet_when_rolled_back_then_the_stack_update_is_cancelled() -> None:
    fake = FakeAws(stack_statuses=["UPDATE_IN_PROGRESS"])
    assert stop_running_deployments(fake, fake, STACK, progress=lambda _: None) == []
    assert fake.cancelled


def test_given_nothing_running_when_rolled_back_then_the_message_says_how_to_go_back() -> None:
    fake = FakeAws(
        stack_statuses=["UPDATE_COMPLETE"], shifts={"d-DONE": Shift(GROUPS[0], [("Succeeded", 1.0)])}
    )
    with pytest.raises(ToolingError, match="deploy its commit again"):
        stop_running_deployments(fake, fake, STACK, progress=lambda _: None)
    assert not fake.cancelled


class _ChangeSets:
    def __init__(self, summaries: list[dict[str, Any]]) -> None:
        self.summaries = summaries

    def list_change_sets(self, StackName: str) -> dict[str, Any]:
        return {"Summaries": self.summaries}


def test_given_an_old_reviewed_change_set_then_only_the_one_sam_just_made_is_executed() -> None:
    old = {"ChangeSetId": "old", "ExecutionStatus": "AVAILABLE", "CreationTime": SINCE}
    new = {
        "ChangeSetId": "new",
        "ExecutionStatus": "AVAILABLE",
        "CreationTime": SINCE + datetime.timedelta(1),
    }
    assert new_change_set(_ChangeSets([old, new]), STACK, before={"old"}) == "new"
    assert new_change_set(_ChangeSets([old]), STACK, before={"old"}) is None
    failed = {**new, "ExecutionStatus": "UNAVAILABLE"}
    assert new_change_set(_ChangeSets([old, failed]), STACK, before={"old"}) is None


# ---------------------------------------------------------------------------------------------- code push + alias


def _bundle(text: str) -> CodeBundle:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("reader.py", text)
    return CodeBundle(data=buffer.getvalue())


class _MotoEngine:
    name = "moto"
    bundles_dependencies = False

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]


@pytest.fixture
def aliased_function(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lambda_client = boto3.client("lambda", region_name="us-east-1")
        lambda_client.create_function(
            FunctionName="reader",
            Runtime="python3.13",
            Role=role,
            Handler="reader.lambda_handler",
            Code={"ZipFile": _bundle("old").data},
        )
        version = lambda_client.publish_version(FunctionName="reader")["Version"]
        lambda_client.create_alias(FunctionName="reader", Name="live", FunctionVersion=version)
        monkeypatch.setattr(deploy, "stack_functions", lambda engine, name: {"ReaderFunction": "reader"})
        yield lambda_client, version


def test_given_an_aliased_function_when_code_is_pushed_then_the_alias_serves_the_new_code(
    aliased_function: tuple[Any, str],
) -> None:
    lambda_client, first_version = aliased_function
    new = _bundle("new")
    # When the handlers change and are pushed
    updated = deploy.push_code(_MotoEngine(), "stack", new)  # type: ignore[arg-type]
    # Then a new version holds the new code and the alias callers use points at it
    assert updated == ["reader"]
    alias = lambda_client.get_alias(FunctionName="reader", Name="live")
    assert alias["FunctionVersion"] != first_version
    served = lambda_client.get_function_configuration(FunctionName="reader:live")
    assert served["CodeSha256"] == new.lambda_sha256
    # And pushing the same code again changes nothing
    assert deploy.push_code(_MotoEngine(), "stack", new) == []  # type: ignore[arg-type]
    assert (
        lambda_client.get_alias(FunctionName="reader", Name="live")["FunctionVersion"]
        == alias["FunctionVersion"]
    )


# ---------------------------------------------------------------------------------------------- the deploy flow


RESOURCES = PipelineResources("arn:deploy", "artifacts-bucket", "arn:execution", "arn:boundary")


@dataclass
class FakeDeploy(FakeAws):
    """FakeAws plus change sets: `create_change_set` plays `sam deploy --no-execute-changeset`."""

    change_sets: list[dict[str, Any]] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    sam_arguments: list[list[str]] = field(default_factory=list)
    changes: bool = True

    def list_change_sets(self, StackName: str) -> dict[str, Any]:
        return {"Summaries": self.change_sets}

    def create_change_set(self, extra: list[str]) -> None:
        self.sam_arguments.append(extra)
        if self.changes:
            created = datetime.datetime.now(datetime.UTC)
            self.change_sets.append(
                {"ChangeSetId": "cs-new", "ExecutionStatus": "AVAILABLE", "CreationTime": created}
            )

    def execute_change_set(self, ChangeSetName: str) -> None:
        self.executed.append(ChangeSetName)

    def delete_change_set(self, ChangeSetName: str) -> None:
        self.deleted.append(ChangeSetName)


def run_deploy(
    fake: FakeDeploy, *, answer: bool | None = None, dry_run: bool = False
) -> tuple[str, list[str]]:
    lines: list[str] = []
    questions: list[str] = []

    def confirm(question: str) -> bool:
        questions.append(question)
        assert answer is not None
        return answer

    outcome = deploy_stage(
        fake,
        fake,
        "prod",
        RESOURCES,
        create_change_set=fake.create_change_set,
        confirm=None if answer is None else confirm,
        dry_run=dry_run,
        progress=lines.append,
    )
    return outcome, questions + lines


def test_given_a_yes_when_deploying_prod_then_the_new_change_set_is_executed_and_its_canary_followed() -> (
    None
):
    # Given a stale change set from an earlier review and a canary that succeeds
    stale = {"ChangeSetId": "cs-old", "ExecutionStatus": "AVAILABLE", "CreationTime": SINCE}
    fake = FakeDeploy(
        stack_statuses=["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
        shifts={"d-1": Shift(GROUPS[0], [("InProgress", 0.1), ("Succeeded", 1.0)])},
        change_sets=[stale],
    )
    # When prod is deployed and the operator answers yes
    outcome, lines = run_deploy(fake, answer=True)
    # Then sam uploaded to the bootstrap's bucket as its role, the question was asked after the change set
    # existed, only the new change set ran, and the shift was followed to the end
    assert fake.sam_arguments == [RESOURCES.sam_deploy_arguments("prod")]
    assert lines[0] == "Execute this change set on PROD (product-purchase-prod)?"
    assert fake.executed == ["cs-new"]
    assert outcome == "UPDATE_COMPLETE"
    assert any("10% of fn:live" in line for line in lines)


def test_given_a_no_when_deploying_prod_then_nothing_runs_and_the_change_set_is_deleted() -> None:
    fake = FakeDeploy(stack_statuses=["UPDATE_COMPLETE"])
    with pytest.raises(ToolingError, match="Not deployed"):
        run_deploy(fake, answer=False)
    assert fake.executed == []
    assert fake.deleted == ["cs-new"]


def test_given_a_dry_run_then_the_change_set_is_left_for_review_and_not_executed() -> None:
    fake = FakeDeploy(stack_statuses=["UPDATE_COMPLETE"])
    outcome, lines = run_deploy(fake, dry_run=True)
    assert (outcome, fake.executed, fake.deleted) == ("reviewed", [], [])
    assert lines == ["Change set left for review, not executed: cs-new"]


def test_given_no_changes_then_nothing_is_asked_or_executed() -> None:
    fake = FakeDeploy(stack_statuses=["UPDATE_COMPLETE"], changes=False)
    outcome, lines = run_deploy(fake, answer=True)
    assert outcome == "unchanged"
    assert fake.executed == []
    assert lines == ["Nothing to deploy: product-purchase-prod already matches this commit."]
