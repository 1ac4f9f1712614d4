"""Two stages in one account are isolated: on a private MiniStack with IAM enforced, the delivery bootstrap and the
stack of stage A (staging) and of stage B (prod) are deployed as `invoke bootstrap` and `invoke deploy` do, then
stage A's deploy role, execution role and function roles are refused on stage B's user pool, table, log groups and
WebSocket API, while the same calls on stage A's own resources are allowed.

The function roles are probed twice: with the policies the template gives them, and with what a stage A template
could grant them (everything, on '*'), which only the stage's permissions boundary then stops.

Where MiniStack cannot evaluate a condition a statement relies on, the refusal on stage B proves nothing by itself
(MiniStack refuses stage A's own resource too): those rows name the limitation (`ENGINE_GAPS`) and their
own-stage control is an expected failure (strict: it starts failing the day the engine evaluates the condition).
What each gap costs is then shown with MiniStack's own policy evaluator, given the key the engine leaves out.
GitHub's OIDC token cannot be had here: the deploy role is assumed with an unsigned token carrying the claims
GitHub's would, which MiniStack accepts (AWS verifies the signature).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from devkit.delivery.aws import bootstrap_stack_name
from devkit.delivery.deploy import deploy_to_emulator
from devkit.delivery.release import Bootstrapped, bootstrap_stage
from devkit.engines.ministack import MiniStack, free_port
from devkit.stack.outputs import reachable_outputs
from devkit.stack.stacks import describe_stack

STAGE_A, STAGE_B = "staging", "prod"
REPOSITORY = "example-org/product-purchase"
DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "AWS.SimpleQueueService.AccessDenied", "Forbidden"}
)
# The conditions MiniStack's IAM evaluator has no value for: a statement that relies on one never matches there.
ENGINE_GAPS = {
    "pool-tag": "MiniStack resolves aws:ResourceTag for no Cognito user pool (nor API Gateway or CloudWatch Logs "
    "resource): a statement held by the pool's stage tag never matches, on the stage's own pool too",
    "function-arn": "MiniStack sets no lambda:FunctionArn for event source mapping calls: the statement held by "
    "the stage's functions never matches",
    "change-set-role": "MiniStack sets no cloudformation:RoleArn for CreateChangeSet: the statement held by the "
    "stage's execution role never matches",
}
# What a stage A template could grant its own roles: everything the findings named, on every resource.
PLANTED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "cognito-idp:DescribeUserPoolClient",
                "logs:*",
                "dynamodb:*",
                "execute-api:ManageConnections",
                "apigateway:*",
                "lambda:*",
            ],
            "Resource": "*",
        }
    ],
}
FUNCTION_ROLES = (
    "SenderRoleArn",
    "ReaderRoleArn",
    "WriterRoleArn",
    "NotifierRoleArn",
    "ConnectionsRoleArn",
    "AuthorizerRoleArn",
)


@dataclass(frozen=True)
class Stage:
    name: str
    bootstrap: Bootstrapped
    outputs: dict[str, Any]
    pool_client: str

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.outputs['SenderFunctionName']}"


@dataclass(frozen=True)
class Deployed:
    engine: MiniStack
    a: Stage
    b: Stage


def _unsigned_github_token(stage: str) -> str:
    """The claims of a GitHub Actions OIDC token of the repository's `stage` environment on main, unsigned."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "sts.amazonaws.com",
        "sub": f"repo:{REPOSITORY}:environment:{stage}:ref:refs/heads/main",
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def _apply_dropped_boundaries(engine: MiniStack, stage: str, stack_boundary: str) -> None:
    """MiniStack's CloudFormation drops AWS::IAM::Role PermissionsBoundary (docs/emulator-differences.md): set each
    boundary the templates give through IAM, as CloudFormation does on AWS, unless the engine already did."""
    iam, cloudformation = engine.client("iam"), engine.client("cloudformation")
    bootstrap = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=bootstrap_stack_name(stage))[
            "StackResourceSummaries"
        ]
    }
    boundaries = {}
    # The unit tests require the execution role's boundary; this test shows what it does where there is one.
    if "ExecutionRoleBoundaryPolicy" in bootstrap:
        boundaries[bootstrap["CloudFormationExecutionRole"]] = bootstrap["ExecutionRoleBoundaryPolicy"]
    for resource in cloudformation.list_stack_resources(StackName=f"product-purchase-{stage}")[
        "StackResourceSummaries"
    ]:
        if resource["ResourceType"] == "AWS::IAM::Role":
            boundaries[resource["PhysicalResourceId"]] = stack_boundary
    for role, boundary in boundaries.items():
        name = role.rsplit("/", 1)[-1]
        if "PermissionsBoundary" not in iam.get_role(RoleName=name)["Role"]:
            iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary)


def _deploy_stage(engine: MiniStack, stage: str) -> Stage:
    first = bootstrap_stage(engine, stage, REPOSITORY, progress=lambda message: None)
    boundary = first.resources.permissions_boundary_arn
    deploy_to_emulator(
        engine, stage, parameters={"PermissionsBoundary": boundary}, progress=lambda message: None
    )
    # Again, now that the stack exists: the execution role's WebSocket rights get pinned to the stage's API
    again = bootstrap_stage(engine, stage, REPOSITORY, progress=lambda message: None)
    _apply_dropped_boundaries(engine, stage, boundary)
    outputs = reachable_outputs(engine, stage)
    # prod has no development client: a client of its own, made by the account, to look up
    client = engine.client("cognito-idp").create_user_pool_client(
        UserPoolId=outputs["UserPoolId"], ClientName=f"isolation-{uuid.uuid4().hex[:8]}", GenerateSecret=True
    )["UserPoolClient"]["ClientId"]
    return Stage(stage, again, outputs, client)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    engine = MiniStack(port=free_port(), state_dir=tmp_path_factory.mktemp("isolation") / "ministack")
    engine.state_dir.mkdir()
    try:
        engine.start()
        a, b = _deploy_stage(engine, STAGE_A), _deploy_stage(engine, STAGE_B)
        yield Deployed(engine, a, b)
    finally:
        engine.stop(purge=True)


# ---------------------------------------------------------------------------------------------- principals


class Session(Protocol):
    """A boto3 client factory acting as one assumed role: `session("dynamodb")`."""

    def __call__(self, service: str, **extra: Any) -> Any: ...


def _session(engine: MiniStack, credentials: dict[str, str]) -> Session:
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=engine.session().region_name,
    )

    def client(service: str, **extra: Any) -> Any:
        options = {"endpoint_url": engine.endpoint_url(), **extra}
        return session.client(service, config=Config(retries={"max_attempts": 1}), **options)  # type: ignore[call-overload]

    return client


def _assumed(engine: MiniStack, role_arn: str) -> Session:
    credentials = engine.client("sts").assume_role(
        RoleArn=role_arn, RoleSessionName=f"isolation-{uuid.uuid4().hex[:8]}"
    )
    return _session(engine, credentials["Credentials"])


def _deploy_role(engine: MiniStack, stage: Stage, token_stage: str) -> Session:
    credentials = engine.client("sts").assume_role_with_web_identity(
        RoleArn=stage.bootstrap.resources.deploy_role_arn,
        RoleSessionName=f"deliver-{token_stage}",
        WebIdentityToken=_unsigned_github_token(token_stage),
    )
    return _session(engine, credentials["Credentials"])


def _outcome(call: Callable[[], Any]) -> str:
    """'allowed' when IAM let the call through (whatever the service then answered), else the refusal's code."""
    try:
        call()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return "refused" if code in DENIED or (status == 403 and "Gone" not in code) else "allowed"
    return "allowed"


# ---------------------------------------------------------------------------------------------- the probes


Probe = Callable[[Session, Stage, MiniStack], Any]


def _read_pool_client(session: Session, stage: Stage, engine: MiniStack) -> Any:
    return session("cognito-idp").describe_user_pool_client(
        UserPoolId=stage.outputs["UserPoolId"], ClientId=stage.pool_client
    )


def _read_table(session: Session, stage: Stage, engine: MiniStack) -> Any:
    return session("dynamodb").get_item(
        TableName=stage.outputs["TableName"], Key={"ProductPurchaseId": {"S": str(uuid.uuid4())}}
    )


def _write_log(session: Session, stage: Stage, engine: MiniStack) -> Any:
    return session("logs").create_log_stream(logGroupName=stage.log_group, logStreamName=uuid.uuid4().hex)


def _read_logs(session: Session, stage: Stage, engine: MiniStack) -> Any:
    return session("logs").filter_log_events(logGroupName=stage.log_group, limit=1)


def _push_to_connection(session: Session, stage: Stage, engine: MiniStack) -> Any:
    management = f"{engine.endpoint_url()}/_aws/execute-api/{stage.outputs['NotificationApiId']}/{stage.name}"
    return session("apigatewaymanagementapi", endpoint_url=management).post_to_connection(
        ConnectionId=f"isolation{uuid.uuid4().hex[:8]}", Data=b"{}"
    )


def _read_websocket_routes(session: Session, stage: Stage, engine: MiniStack) -> Any:
    return session("apigatewayv2").get_routes(ApiId=stage.outputs["NotificationApiId"])


def _change_log_retention(session: Session, stage: Stage, engine: MiniStack) -> Any:
    group = engine.client("logs").describe_log_groups(logGroupNamePrefix=stage.log_group)["logGroups"][0]
    return session("logs").put_retention_policy(
        logGroupName=stage.log_group, retentionInDays=group.get("retentionInDays", 7)
    )


def _describe_table(session: Session, stage: Stage, engine: MiniStack) -> Any:
    return session("dynamodb").describe_table(TableName=stage.outputs["TableName"])


def _map_a_queue_to_the_writer(session: Session, stage: Stage, engine: MiniStack) -> Any:
    # A mapping from the stage's own queue to its own function: `stage` decides whose function it names.
    queue_arn = engine.client("sqs").get_queue_attributes(
        QueueUrl=stage.outputs["NotificationFailureQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    mapping = session("lambda").create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=stage.outputs["WriterFunctionName"], Enabled=False
    )
    engine.client("lambda").delete_event_source_mapping(UUID=mapping["UUID"])
    return mapping


def _create_change_set(session: Session, stage: Stage, engine: MiniStack) -> Any:
    return session("cloudformation").create_change_set(
        StackName=f"product-purchase-{stage.name}",
        ChangeSetName=f"isolation-{uuid.uuid4().hex[:8]}",
        UsePreviousTemplate=True,
        Capabilities=["CAPABILITY_IAM"],
        RoleARN=stage.bootstrap.resources.execution_role_arn,
    )


@dataclass(frozen=True)
class Row:
    probe: Probe
    # The ENGINE_GAPS key when MiniStack cannot evaluate the condition that allows the stage's own resource
    gap: str = ""


# What each principal of stage A tries on stage B, and, as the control, on stage A.
FUNCTION_PROBES = {
    "pool": Row(_read_pool_client, gap="pool-tag"),
    "table": Row(_read_table),
    "logs": Row(_write_log),
    "api": Row(_push_to_connection),
}
EXECUTION_PROBES = {
    "table": Row(_describe_table),
    "logs": Row(_change_log_retention),
    "websocket-routes": Row(_read_websocket_routes),
    "event-source-mapping": Row(_map_a_queue_to_the_writer, gap="function-arn"),
}
DEPLOY_PROBES = {
    "table": Row(_read_table),
    "pool": Row(_read_pool_client, gap="pool-tag"),
    "stack": Row(_create_change_set, gap="change-set-role"),
}


def _own_stage_controls(probes: dict[str, Row]) -> list[Any]:
    """Each probe on the caller's own stage; where the engine cannot evaluate the condition, an expected failure."""
    controls = []
    for name, row in sorted(probes.items()):
        marks = []
        if row.gap:
            marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=ENGINE_GAPS[row.gap])]
        controls.append(pytest.param(row, id=f"own-{name}", marks=marks))
    return controls


PLANTED = "planted-by-a-stage-template"


def _plant(engine: MiniStack, role_arn: str) -> None:
    engine.client("iam").put_role_policy(
        RoleName=role_arn.rsplit("/", 1)[-1], PolicyName=PLANTED, PolicyDocument=json.dumps(PLANTED_POLICY)
    )


def _unplant(engine: MiniStack, role_arn: str) -> None:
    engine.client("iam").delete_role_policy(RoleName=role_arn.rsplit("/", 1)[-1], PolicyName=PLANTED)


# ---------------------------------------------------------------------------------------------- function roles


@pytest.mark.parametrize("resource", sorted(FUNCTION_PROBES))
@pytest.mark.parametrize("role", FUNCTION_ROLES)
def test_given_stage_a_function_roles_when_they_reach_for_stage_bs_resources_then_they_are_refused(
    deployed: Deployed, role: str, resource: str
) -> None:
    # Given a function role of stage A with the policies its template gives it
    session = _assumed(deployed.engine, deployed.a.outputs[role])
    # When it calls stage B's pool, table, log group or WebSocket API; Then IAM refuses
    assert (
        _outcome(lambda: FUNCTION_PROBES[resource].probe(session, deployed.b, deployed.engine)) == "refused"
    )


@pytest.fixture(scope="module")
def granted_everything(deployed: Deployed) -> Iterator[Session]:
    """Stage A's notifier role after a stage A template granted it everything on '*': only its boundary limits it."""
    role = deployed.a.outputs["NotifierRoleArn"]
    _plant(deployed.engine, role)
    try:
        yield _assumed(deployed.engine, role)
    finally:
        _unplant(deployed.engine, role)


@pytest.mark.parametrize("resource", sorted(FUNCTION_PROBES))
def test_given_a_stage_a_role_granted_everything_then_its_boundary_refuses_stage_bs_resources(
    deployed: Deployed, granted_everything: Session, resource: str
) -> None:
    row = FUNCTION_PROBES[resource]
    assert _outcome(lambda: row.probe(granted_everything, deployed.b, deployed.engine)) == "refused", row.gap


@pytest.mark.parametrize("row", _own_stage_controls(FUNCTION_PROBES))
def test_given_a_stage_a_role_granted_everything_then_its_boundary_allows_its_own_stages_resources(
    deployed: Deployed, granted_everything: Session, row: Row
) -> None:
    assert _outcome(lambda: row.probe(granted_everything, deployed.a, deployed.engine)) == "allowed"


def test_given_a_stage_a_role_granted_everything_then_it_still_reads_no_logs_not_even_its_own(
    deployed: Deployed, granted_everything: Session
) -> None:
    assert _outcome(lambda: _read_logs(granted_everything, deployed.b, deployed.engine)) == "refused"
    assert _outcome(lambda: _read_logs(granted_everything, deployed.a, deployed.engine)) == "refused"


# ---------------------------------------------------------------------------------------------- execution role


@pytest.fixture(scope="module")
def execution_role(deployed: Deployed) -> Session:
    """Stage A's execution role as CloudFormation would act with it. Only CloudFormation of the account may assume
    it, which a test is not: its trust policy is opened to the account (its permissions and boundary untouched)."""
    role = deployed.a.bootstrap.resources.execution_role_arn
    account = role.split(":")[4]
    deployed.engine.client("iam").update_assume_role_policy(
        RoleName=role.rsplit("/", 1)[-1],
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    return _assumed(deployed.engine, role)


@pytest.mark.parametrize("resource", sorted(EXECUTION_PROBES))
def test_given_stage_as_execution_role_then_stage_bs_resources_are_refused(
    deployed: Deployed, execution_role: Session, resource: str
) -> None:
    row = EXECUTION_PROBES[resource]
    assert _outcome(lambda: row.probe(execution_role, deployed.b, deployed.engine)) == "refused", row.gap


@pytest.mark.parametrize("row", _own_stage_controls(EXECUTION_PROBES))
def test_given_stage_as_execution_role_then_its_own_resources_are_allowed(
    deployed: Deployed, execution_role: Session, row: Row
) -> None:
    assert _outcome(lambda: row.probe(execution_role, deployed.a, deployed.engine)) == "allowed"


def test_given_stage_as_execution_role_granted_everything_then_its_boundary_refuses_stage_b(
    deployed: Deployed, execution_role: Session
) -> None:
    # Given stage A's execution role with everything on '*' attached (a hand-made mistake, or a later policy)
    role = deployed.a.bootstrap.resources.execution_role_arn
    _plant(deployed.engine, role)
    try:
        session = _assumed(deployed.engine, role)
        # Then its boundary still refuses stage B's table, log group, WebSocket routes and pool, and allows A's table
        for probe in (_describe_table, _change_log_retention, _read_websocket_routes, _read_pool_client):
            assert _outcome(partial(probe, session, deployed.b, deployed.engine)) == "refused", probe.__name__
        assert _outcome(lambda: _describe_table(session, deployed.a, deployed.engine)) == "allowed"
    finally:
        _unplant(deployed.engine, role)


# ---------------------------------------------------------------------------------------------- deploy role


@pytest.fixture(scope="module")
def deploy_role(deployed: Deployed) -> Session:
    return _deploy_role(deployed.engine, deployed.a, STAGE_A)


@pytest.mark.parametrize("resource", sorted(DEPLOY_PROBES))
def test_given_stage_as_deploy_role_then_stage_bs_resources_and_stack_are_refused(
    deployed: Deployed, deploy_role: Session, resource: str
) -> None:
    row = DEPLOY_PROBES[resource]
    assert _outcome(lambda: row.probe(deploy_role, deployed.b, deployed.engine)) == "refused", row.gap


@pytest.mark.parametrize("row", _own_stage_controls(DEPLOY_PROBES))
def test_given_stage_as_deploy_role_then_its_own_stage_is_allowed(
    deployed: Deployed, deploy_role: Session, row: Row
) -> None:
    assert _outcome(lambda: row.probe(deploy_role, deployed.a, deployed.engine)) == "allowed"


def test_given_stage_as_github_token_then_stage_bs_deploy_role_cannot_be_assumed(deployed: Deployed) -> None:
    with pytest.raises(ClientError, match="AccessDenied"):
        _deploy_role(deployed.engine, deployed.b, STAGE_A)


def test_given_both_stages_then_their_stacks_and_bootstraps_exist(deployed: Deployed) -> None:
    # The probes above are about these: both stages deployed, each bootstrap pinned to its own WebSocket API
    cloudformation = deployed.engine.client("cloudformation")
    for stage in (deployed.a, deployed.b):
        bootstrap = describe_stack(cloudformation, bootstrap_stack_name(stage.name))
        assert bootstrap is not None
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in bootstrap["Parameters"]}
        assert parameters["NotificationApiId"] == stage.outputs["NotificationApiId"]
    assert deployed.a.outputs["UserPoolId"] != deployed.b.outputs["UserPoolId"]


# ---------------------------------------------------------------------------------------------- the named gaps


def _policy_document(engine: MiniStack, stage: Stage, gap: str) -> dict[str, Any]:
    """The deployed policy whose stage condition the engine cannot evaluate, as IAM holds it (ARNs resolved)."""
    iam = engine.client("iam")
    if gap == "change-set-role":
        role = stage.bootstrap.resources.deploy_role_arn.rsplit("/", 1)[-1]
        document: dict[str, Any] = iam.get_role_policy(RoleName=role, PolicyName="deploy-the-stage-stack")[
            "PolicyDocument"
        ]
        return document
    if gap == "pool-tag":
        arn = stage.bootstrap.resources.permissions_boundary_arn
    else:
        arn = next(
            policy["Arn"]
            for policy in iam.list_policies(Scope="Local")["Policies"]
            if policy["PolicyName"] == f"product-purchase-{stage.name}-execution-functions-and-roles"
        )
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    return document


def _account(deployed: Deployed) -> str:
    return deployed.a.bootstrap.resources.deploy_role_arn.split(":")[4]


def _request(deployed: Deployed, gap: str, of_stage: Stage) -> tuple[str, str, str, str]:
    """(action, resource, the condition key the engine leaves out, its value) of a request on `of_stage`."""
    a = deployed.a
    region, account = deployed.engine.session().region_name, _account(deployed)
    if gap == "pool-tag":
        pool = f"arn:aws:cognito-idp:{region}:{account}:userpool/{of_stage.outputs['UserPoolId']}"
        return (
            "cognito-idp:ListUserPoolClients",
            pool,
            "aws:ResourceTag/product-purchase:stack",
            (f"product-purchase-{of_stage.name}"),
        )
    if gap == "function-arn":
        function = deployed.engine.client("lambda").get_function(
            FunctionName=of_stage.outputs["WriterFunctionName"]
        )
        return (
            "lambda:CreateEventSourceMapping",
            "*",
            "lambda:FunctionArn",
            function["Configuration"]["FunctionArn"],
        )
    stack = f"arn:aws:cloudformation:{region}:{account}:stack/product-purchase-{a.name}/*"
    return (
        "cloudformation:CreateChangeSet",
        stack,
        "cloudformation:RoleArn",
        (of_stage.bootstrap.resources.execution_role_arn),
    )


@pytest.mark.parametrize("gap", sorted(ENGINE_GAPS))
def test_given_the_condition_key_the_engine_leaves_out_then_its_own_evaluator_holds_the_statement_to_the_stage(
    deployed: Deployed, gap: str
) -> None:
    """What each named gap costs: with the key supplied, MiniStack's own policy evaluator allows stage A's request on
    its own resource and refuses it on stage B's, and without the key (as the engine evaluates) refuses both."""
    from ministack.core.iam_evaluator import EvalContext, evaluate, parse_policy_document

    statements = parse_policy_document(_policy_document(deployed.engine, deployed.a, gap))

    def decision(of_stage: Stage | None) -> str:
        action, resource, key, value = _request(deployed, gap, of_stage or deployed.a)
        context = {key.lower(): value} if of_stage else {}
        request = EvalContext(
            principal_arn=f"arn:aws:sts::{_account(deployed)}:assumed-role/stage-a/probe",
            principal_type="AssumedRole",
            principal_account=_account(deployed),
            action=action,
            resource_arn=resource,
            region=deployed.engine.session().region_name,
            service_context=context,
        )
        result: str = evaluate(request, [statements]).decision
        return result

    assert decision(deployed.a) == "Allow"
    assert decision(deployed.b) == "ImplicitDeny"
    assert decision(None) == "ImplicitDeny"
