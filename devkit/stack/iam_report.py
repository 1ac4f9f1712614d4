"""Least privilege, measured: what the template grants each role, against the calls the engine's IAM evaluated for
that role while the stack ran.

The grants come from the template as CloudFormation reads it (after the SAM transform, so SAM policy templates and
generated roles are included), with each value as CloudFormation resolved it in the deployed stack (the role's
policies read back from IAM, statement by statement; a managed policy's document from IAM). The calls come from the
engine's own IAM evaluation (`MiniStack.iam_decisions`). A grant no call of the role's function matched is flagged
unused; a call the engine refused is flagged denied. Some grants are used by AWS on the role's behalf, not by the
function's code (an event source's polling, log delivery, tracing, CodeDeploy): the engine does not evaluate those,
so they are reported as such, never as used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from devkit.core.project import ToolingError, stack_name
from devkit.core.template import translate

if TYPE_CHECKING:
    from devkit.engines import Engine

# What AWS itself calls with a function's execution role, as AWS's own managed policies for each use list them.
# AWSLambdaSQSQueueExecutionRole: the Lambda service polls an SQS event source.
SQS_EVENT_SOURCE = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# AWSLambdaDynamoDBExecutionRole: the Lambda service reads a DynamoDB stream event source.
STREAM_EVENT_SOURCE = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
# AWSLambdaBasicExecutionRole: the Lambda service writes the function's log lines.
LOG_DELIVERY = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
# AWSXRayDaemonWriteAccess (its write part): Lambda's X-Ray daemon sends the traces.
TRACING = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# An event source's on-failure destination is sent to by the Lambda service, with the function's role.
ON_FAILURE = ("sqs:SendMessage",)

USED, UNUSED, BY_AWS = "used", "UNUSED", "by AWS"
_ARN_PREFIX = re.compile(r"^arn:\$\{AWS::Partition\}:([a-z0-9-]+):\$\{AWS::Region\}:\$\{AWS::AccountId\}:")
_ASSUMED = re.compile(r"^arn:aws[a-z-]*:sts::\d{12}:assumed-role/(?P<role>[^/]+)/(?P<session>.+)$")


def action_matches(pattern: str, action: str) -> bool:
    """IAM's action match: `*` and `?` wildcards, case-insensitive (`dynamodb:*` covers `DynamoDB:GetItem`)."""
    return _wildcard(pattern, ignore_case=True).fullmatch(action) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    """IAM's resource match: `*` (any run of characters, `/` and `:` included) and `?`, case-sensitive."""
    return _wildcard(pattern, ignore_case=False).fullmatch(resource) is not None


@lru_cache(maxsize=1024)
def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(expression, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


# ------------------------------------------------------------------------------------------------ the template


@dataclass(frozen=True)
class TemplateStatement:
    """One Allow statement of a role's policy as the template writes it (values may be intrinsics)."""

    policy: str
    actions: tuple[str, ...]
    resources: tuple[Any, ...]
    conditional: bool


@dataclass
class TemplateRole:
    logical_id: str
    trusted_services: tuple[str, ...]
    inline: dict[str, list[TemplateStatement]] = field(default_factory=dict)
    managed: list[Any] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    # action -> resources (intrinsics) that AWS uses with this role on the function's behalf, and why
    by_aws: list[tuple[tuple[str, ...], Any, str]] = field(default_factory=list)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _ref_of(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` names."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def _statements(policy: str, document: Mapping[str, Any]) -> list[TemplateStatement]:
    return [
        TemplateStatement(
            policy,
            tuple(str(action) for action in _listed(statement.get("Action", []))),
            tuple(_listed(statement.get("Resource", []))),
            bool(statement.get("Condition")),
        )
        for statement in _listed(document.get("Statement", []))
        if statement.get("Effect") == "Allow"
    ]


def template_roles(template: Mapping[str, Any]) -> dict[str, TemplateRole]:
    """Every IAM role of a (translated) template: its policies, the functions that run with it and what AWS uses
    it for on their behalf."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    roles: dict[str, TemplateRole] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        properties = resource.get("Properties", {})
        trust = _listed(properties.get("AssumeRolePolicyDocument", {}).get("Statement", []))
        services = tuple(
            str(service)
            for statement in trust
            for service in _listed(statement.get("Principal", {}).get("Service", []))
        )
        role = TemplateRole(logical_id, services)
        for policy in properties.get("Policies", []):
            role.inline[policy["PolicyName"]] = _statements(policy["PolicyName"], policy["PolicyDocument"])
        role.managed = list(properties.get("ManagedPolicyArns", []))
        roles[logical_id] = role
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::IAM::Policy":
            for target in properties.get("Roles", []):
                if (name := _ref_of(target)) in roles:
                    roles[name].inline[properties["PolicyName"]] = _statements(
                        properties["PolicyName"], properties["PolicyDocument"]
                    )
    aliases = {
        logical_id: _ref_of(resource["Properties"].get("FunctionName"))
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Lambda::Alias"
    }
    function_roles: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Lambda::Function":
            role_name = _ref_of(resource.get("Properties", {}).get("Role"))
            if role_name in roles:
                function_roles[logical_id] = role_name
                roles[role_name].functions.append(logical_id)
                tracing = resource["Properties"].get("TracingConfig", {}).get("Mode") == "Active"
                roles[role_name].by_aws.append((LOG_DELIVERY, "*", "Lambda writes the function's logs"))
                if tracing:
                    roles[role_name].by_aws.append((TRACING, "*", "Lambda's X-Ray daemon sends its traces"))
    for resource in resources.values():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        properties = resource["Properties"]
        function = _ref_of(properties.get("FunctionName"))
        function = aliases.get(function or "", function)
        if function not in function_roles:
            continue
        role = roles[function_roles[function]]
        source = properties.get("EventSourceArn")
        kind = json.dumps(source)
        if "Queue" in kind or "sqs" in kind.lower():
            role.by_aws.append((SQS_EVENT_SOURCE, source, "Lambda polls the function's SQS event source"))
        else:
            role.by_aws.append(
                (STREAM_EVENT_SOURCE, source, "Lambda reads the function's stream event source")
            )
        destination = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination is not None:
            role.by_aws.append((ON_FAILURE, destination, "Lambda sends what the event source gives up on"))
    return roles


def shown(value: Any) -> str:
    """A template value as a person reads it: `PurchaseTable.Arn`, `${PurchaseTable.Arn}/index/X`, `*`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return ".".join(target) if isinstance(target, list) else str(target)
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        # `arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:X` reads as `execute-api:X`.
        return _ARN_PREFIX.sub(r"\1:", str(sub[0] if isinstance(sub, list) else sub))
    return json.dumps(value, separators=(",", ":"))


# ------------------------------------------------------------------------------------------------ the comparison


@dataclass(frozen=True)
class Grant:
    """One action on one resource that a role's policy allows (values as deployed)."""

    policy: str
    action: str
    resource: str
    shown_resource: str
    conditional: bool = False


@dataclass(frozen=True)
class Call:
    """Calls the engine evaluated, counted per principal, action, resource and decision."""

    principal: str
    action: str
    resource: str
    decision: str
    count: int

    @property
    def allowed(self) -> bool:
        return self.decision == "Allow"

    @property
    def role_and_session(self) -> tuple[str, str] | None:
        match = _ASSUMED.match(self.principal)
        return (match["role"], match["session"]) if match else None


@dataclass
class GrantUse:
    grant: Grant
    calls: int
    verdict: str  # USED, UNUSED or BY_AWS
    why: str = ""


@dataclass
class RoleReport:
    logical_id: str
    role_name: str
    functions: list[str]
    grants: list[GrantUse]
    denied: list[Call]
    # Calls allowed by something the template does not grant (another policy attached outside the stack).
    ungranted: list[Call]
    # Calls made with the role by anyone but its functions (a test assuming it): shown, never counted as use.
    other_sessions: list[Call]
    # Managed policies the role carries whose document the engine does not have.
    unread_policies: list[str] = field(default_factory=list)
    # Why AWS, not a function, uses the whole role (empty for a function's role).
    by_aws: str = ""

    @property
    def unused(self) -> list[GrantUse]:
        return [use for use in self.grants if use.verdict == UNUSED]


def compare(
    grants: Iterable[Grant],
    calls: Iterable[Call],
    *,
    functions: Iterable[str],
    by_aws: Iterable[tuple[tuple[str, ...], str, str]] = (),
    whole_role_by_aws: str = "",
) -> tuple[list[GrantUse], list[Call], list[Call], list[Call]]:
    """Each grant with the function calls it allowed and its verdict; the denied calls; the allowed calls no grant
    covers; and the calls of sessions other than the functions'.

    `calls` are the role's; those whose session is one of `functions` are the function's own. `by_aws` lists
    (actions, resource, why) AWS uses on the role's behalf; `whole_role_by_aws` says why every grant is (a role
    only an AWS service assumes, such as CodeDeploy's)."""
    names = set(functions)
    own = [call for call in calls if (call.role_and_session or ("", ""))[1] in names]
    others = [call for call in calls if call not in own]
    uses: list[GrantUse] = []
    covered: set[Call] = set()
    for grant in grants:
        matched = [
            call
            for call in own
            if call.allowed
            and action_matches(grant.action, call.action)
            and resource_matches(grant.resource, call.resource)
        ]
        covered.update(matched)
        count = sum(call.count for call in matched)
        if count:
            uses.append(GrantUse(grant, count, USED))
            continue
        why = whole_role_by_aws or next(
            (
                reason
                for actions, resource, reason in by_aws
                if any(action_matches(grant.action, action) for action in actions)
                and (resource_matches(grant.resource, resource) or resource_matches(resource, grant.resource))
            ),
            "",
        )
        uses.append(GrantUse(grant, 0, BY_AWS if why else UNUSED, why))
    denied = [call for call in calls if not call.allowed]
    ungranted = [call for call in own if call.allowed and call not in covered]
    return uses, denied, ungranted, others


# ------------------------------------------------------------------------------------------------ the engine


def _document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: a dict, or (URL-encoded) JSON text."""
    if isinstance(value, dict):
        return value
    text = str(value)
    document: dict[str, Any] = json.loads(unquote(text) if text.startswith("%7B") else text)
    return document


def _resolved_grants(iam: Any, role: TemplateRole, role_name: str) -> tuple[list[Grant], list[str]]:
    """The role's grants, each with the template's form of its resource and the value the stack resolved; and the
    managed policies whose document the engine does not have (an emulator has only the common ones)."""
    grants: list[Grant] = []
    unread: list[str] = []
    for policy, statements in role.inline.items():
        try:
            deployed = _document(iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"])
        except iam.exceptions.NoSuchEntityException:
            raise ToolingError(
                f"Role {role.logical_id} has no policy {policy} in the deployed stack: deploy the current template "
                "(`invoke up`), run the stack, then report."
            ) from None
        allowed = [s for s in _listed(deployed.get("Statement", [])) if s.get("Effect") == "Allow"]
        for index, statement in enumerate(allowed):
            written = statements[index] if index < len(statements) else None
            resources = [str(resource) for resource in _listed(statement.get("Resource", []))]
            labels = (
                [shown(value) for value in written.resources]
                if written is not None and len(written.resources) == len(resources)
                else resources
            )
            for action in _listed(statement.get("Action", [])):
                for resource, label in zip(resources, labels, strict=True):
                    grants.append(
                        Grant(policy, str(action), resource, label, bool(statement.get("Condition")))
                    )
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        try:
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = _document(
                iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            )
        except iam.exceptions.NoSuchEntityException:
            unread.append(arn)
            continue
        for statement in _listed(document.get("Statement", [])):
            if statement.get("Effect") != "Allow":
                continue
            for action in _listed(statement.get("Action", [])):
                for resource in _listed(statement.get("Resource", [])):
                    grants.append(
                        Grant(
                            attached["PolicyName"],
                            str(action),
                            str(resource),
                            str(resource),
                            bool(statement.get("Condition")),
                        )
                    )
    return grants, unread


def _physical(engine: Engine, stage: str) -> dict[str, str]:
    """Logical id -> physical id of every resource of the stage's stack."""
    cloudformation = engine.client("cloudformation")
    return {
        resource["LogicalResourceId"]: resource["PhysicalResourceId"]
        for resource in cloudformation.describe_stack_resources(StackName=stack_name(stage))["StackResources"]
    }


def _resolved_arn(value: Any, physical: Mapping[str, str], region: str, account: str) -> str:
    """An event source's ARN (`Fn::GetAtt X.Arn` / `X.StreamArn`) from the stack's resources, as far as it can be
    told without asking each service: a queue's or a table stream's, else `*`."""
    name = _ref_of(value)
    if name is None or name not in physical:
        return str(value) if isinstance(value, str) else "*"
    physical_id = physical[name]
    if physical_id.startswith("arn:"):
        return physical_id
    if physical_id.startswith("http"):  # a queue's URL
        return f"arn:aws:sqs:{region}:{account}:{physical_id.rstrip('/').rsplit('/', 1)[-1]}"
    return f"arn:aws:dynamodb:{region}:{account}:table/{physical_id}/stream/*"


def role_reports(
    engine: Engine, stage: str, calls: Iterable[Call], *, template: Mapping[str, Any] | None = None
) -> tuple[list[RoleReport], list[Call]]:
    """One report per role of the deployed stack, and the recorded calls of principals that are none of them.
    `template` is the translated template (default: template.yaml's)."""
    template = translate() if template is None else template
    physical = _physical(engine, stage)
    iam = engine.client("iam")
    identity = engine.client("sts").get_caller_identity()
    account, region = identity["Account"], engine.session().region_name or "us-east-1"
    calls = list(calls)
    reports: list[RoleReport] = []
    claimed: set[Call] = set()
    for logical_id, role in template_roles(template).items():
        role_name = physical.get(logical_id)
        if role_name is None:  # a conditional role this stage does not create
            continue
        role_name = role_name.rsplit("/", 1)[-1]
        role_calls = [call for call in calls if (call.role_and_session or ("", ""))[0] == role_name]
        claimed.update(role_calls)
        functions = [physical[function] for function in role.functions if function in physical]
        non_lambda = [service for service in role.trusted_services if service != "lambda.amazonaws.com"]
        whole_role = (
            f"assumed only by {', '.join(non_lambda)}, which the local engine does not run"
            if non_lambda and not role.functions
            else ""
        )
        by_aws = [
            (actions, _resolved_arn(resource, physical, region, account), why)
            for actions, resource, why in role.by_aws
        ]
        grants, unread = _resolved_grants(iam, role, role_name)
        uses, denied, ungranted, others = compare(
            grants,
            role_calls,
            functions=functions,
            by_aws=by_aws,
            whole_role_by_aws=whole_role,
        )
        reports.append(
            RoleReport(logical_id, role_name, functions, uses, denied, ungranted, others, unread, whole_role)
        )
    return reports, [call for call in calls if call not in claimed]


def recorded_calls(engine: Engine) -> tuple[float, list[Call]]:
    """When the engine's record of IAM decisions starts, and the calls in it; a ToolingError where no engine keeps
    one (AWS, LocalStack)."""
    from devkit.engines.ministack import MiniStack

    if engine.name == "aws":
        raise ToolingError(
            "AWS keeps no per-call record of IAM decisions to compare with: see what each role used with IAM Access "
            "Advisor (`aws iam generate-service-last-accessed-details --arn ROLE_ARN --granularity ACTION_LEVEL`) "
            "or CloudTrail; `invoke iam-report` runs on the local engine (`--target ministack`)."
        )
    if not isinstance(engine, MiniStack):
        raise ToolingError(
            f"The {engine.name} engine's IAM decisions are not recorded here (LocalStack's own is its paid IAM "
            "policy stream): run `invoke iam-report --target ministack`."
        )
    answer = engine.iam_decisions()
    return float(answer["since"]), [
        Call(entry["principal"], entry["action"], entry["resource"], entry["decision"], int(entry["count"]))
        for entry in answer["calls"]
    ]


def report_json(since: float, reports: list[RoleReport], others: list[Call]) -> dict[str, Any]:
    return {
        "since": since,
        "roles": [
            {
                **{key: value for key, value in asdict(report).items() if key != "grants"},
                "grants": [
                    {**asdict(use.grant), "calls": use.calls, "verdict": use.verdict, "why": use.why}
                    for use in report.grants
                ],
            }
            for report in reports
        ],
        "other_principals": [asdict(call) for call in others],
    }
