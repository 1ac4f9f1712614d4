"""pipeline/bootstrap.yaml: who may deploy a stage (GitHub OIDC, one repository, that stage's environment), where
artifacts go (private, encrypted, TLS only, expiring) and what CloudFormation may do with the execution role."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from template_stack import TEMPLATE, Stack, as_list, sam_transform

from devkit.core.project import ToolingError
from devkit.core.template import load_template
from devkit.delivery.aws import (
    BOOTSTRAP_TEMPLATE,
    PipelineResources,
    bootstrap_parameters,
    pipeline_resources,
    stage_notification_api_id,
)

REPOSITORY = "example-org/product-purchase"


def bootstrapped(stage: str, oidc_provider_arn: str = "") -> Stack:
    parameters = {"StageName": stage, "GitHubRepository": REPOSITORY, "OidcProviderArn": oidc_provider_arn}
    return Stack(load_template(BOOTSTRAP_TEMPLATE), parameters)


@pytest.fixture(scope="module")
def staging() -> Stack:
    return bootstrapped("staging")


def statements(stack: Stack, role: str) -> list[dict[str, Any]]:
    """Every statement of the role's inline policies and of the bootstrap's managed policies attached to it."""
    found: list[dict[str, Any]] = []
    properties = stack.properties(role)
    for policy in properties.get("Policies", []):
        found += as_list(policy["PolicyDocument"]["Statement"])
    for arn in properties.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            found += as_list(stack.properties(arn["Ref"])["PolicyDocument"]["Statement"])
    return found


def test_given_the_bootstrap_when_linted_then_cfn_lint_reports_nothing() -> None:
    matches = lint_file(BOOTSTRAP_TEMPLATE, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW"] == []


@pytest.mark.parametrize("stage", ["dev", "qa", "staging", "prod"])
def test_given_a_stage_then_its_deploy_role_trusts_only_that_repository_environment_through_github_oidc(
    stage: str,
) -> None:
    stack = bootstrapped(stage)
    (statement,) = stack.properties("DeployRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": {"Ref": "GitHubOidcProvider"}}
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": {
                "Fn::Sub": "repo:${GitHubRepository}:environment:${StageName}:ref:refs/heads/main"
            },
        }
    }
    # Resolved for this stage: the subject is exactly one repository's environment named after the stage, on main
    # (the subject GitHub issues once the repository's OIDC subject template includes repo, context and ref).
    subject = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]["Fn::Sub"]
    resolved = subject.replace("${GitHubRepository}", REPOSITORY).replace("${StageName}", stage)
    assert resolved == f"repo:{REPOSITORY}:environment:{stage}:ref:refs/heads/main"
    assert "*" not in resolved and "StringLike" not in statement["Condition"]


def test_given_an_existing_provider_then_none_is_created_and_the_role_trusts_that_one() -> None:
    existing = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    stack = bootstrapped("prod", existing)
    assert "GitHubOidcProvider" not in stack.resources
    (statement,) = stack.properties("DeployRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": {"Ref": "OidcProviderArn"}}


def test_given_a_new_provider_then_it_is_githubs_for_sts_and_outlives_the_stack(staging: Stack) -> None:
    provider = staging.resources["GitHubOidcProvider"]
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]
    assert provider["DeletionPolicy"] == "Retain"


def test_given_the_bootstrap_then_it_holds_no_long_lived_credentials(staging: Stack) -> None:
    types = {resource["Type"] for resource in staging.resources.values()}
    assert not types & {"AWS::IAM::User", "AWS::IAM::AccessKey", "AWS::IAM::Group"}


def test_given_the_artifacts_bucket_then_it_is_encrypted_private_versioned_and_expires_objects(
    staging: Stack,
) -> None:
    bucket = staging.properties("ArtifactsBucket")
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (expiry,) = bucket["LifecycleConfiguration"]["Rules"]
    assert expiry["Status"] == "Enabled"
    assert expiry["ExpirationInDays"] == {"Ref": "ArtifactRetentionDays"}
    assert expiry["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1


def test_given_the_artifacts_bucket_then_its_policy_refuses_anything_but_tls(staging: Stack) -> None:
    policy = staging.properties("ArtifactsBucketPolicy")
    assert policy["Bucket"] == {"Ref": "ArtifactsBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["ArtifactsBucket", "Arn"]},
        {"Fn::Sub": "${ArtifactsBucket.Arn}/*"},
    ]


def test_given_the_deploy_role_then_it_passes_only_the_execution_role_and_only_to_cloudformation(
    staging: Stack,
) -> None:
    passing = [s for s in statements(staging, "DeployRole") if "iam:PassRole" in as_list(s["Action"])]
    (statement,) = passing
    assert statement["Resource"] == {"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}


def test_given_the_deploy_role_then_it_changes_only_its_own_stages_stack(staging: Stack) -> None:
    for statement in statements(staging, "DeployRole"):
        actions = as_list(statement["Action"])
        if any(action.startswith("cloudformation:") for action in actions):
            for resource in as_list(statement["Resource"]):
                arn = resource["Fn::Sub"]
                assert (
                    "stack/product-purchase-${StageName}/" in arn
                    or ":transform/" in arn
                    or ("stack/${AWS::StackName}/" in arn and actions == ["cloudformation:DescribeStacks"])
                ), arn


def test_given_the_execution_role_then_only_cloudformation_of_this_account_may_assume_it(
    staging: Stack,
) -> None:
    (statement,) = staging.properties("CloudFormationExecutionRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_given_the_execution_role_then_no_statement_grants_a_whole_service(staging: Stack) -> None:
    for role in ("CloudFormationExecutionRole", "DeployRole"):
        for statement in statements(staging, role):
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                _, _, name = action.partition(":")
                assert name and name != "*", (role, action)


# CloudFormation service namespace -> IAM action prefix, for every service template.yaml may use.
IAM_PREFIX = {
    "ApiGateway": "apigateway",
    "ApiGatewayV2": "apigateway",
    "CertificateManager": "acm",
    "CloudWatch": "cloudwatch",
    "CodeDeploy": "codedeploy",
    "Cognito": "cognito-idp",
    "DynamoDB": "dynamodb",
    "Events": "events",
    "IAM": "iam",
    "KMS": "kms",
    "Lambda": "lambda",
    "Logs": "logs",
    "Route53": "route53",
    "SNS": "sns",
    "SQS": "sqs",
}
# Types CloudFormation handles itself, with no call to another service.
NO_PERMISSION_NEEDED = {"AWS::CloudFormation::WaitConditionHandle"}


def test_given_every_resource_type_of_the_service_stack_then_the_execution_role_may_manage_it() -> None:
    # A bootstrap for a stage with a custom domain: its certificate and record are the only ones it allows
    bootstrap = Stack(
        load_template(BOOTSTRAP_TEMPLATE),
        {
            "StageName": "prod",
            "GitHubRepository": REPOSITORY,
            "OidcProviderArn": "",
            "DomainName": "api.example.com",
            "HostedZoneId": "Z0123456789ABCDEFGHIJ",
        },
    )
    everything = {
        "StageName": "prod",
        "DomainName": "api.example.com",
        "HostedZoneId": "Z0123456789ABCDEFGHIJ",
        "CreateApiGatewayAccount": "true",
        "AlarmEmail": "oncall@example.com",
    }
    service_stack = Stack(
        sam_transform(load_template(TEMPLATE, inline_includes=True), everything), everything
    )
    granted = {
        action.split(":")[0]
        for statement in statements(bootstrap, "CloudFormationExecutionRole")
        for action in as_list(statement["Action"])
    }
    for resource in service_stack.resources.values():
        resource_type = resource["Type"]
        if resource_type in NO_PERMISSION_NEEDED:
            continue
        namespace = resource_type.split("::")[1]
        assert namespace in IAM_PREFIX, (
            f"{resource_type} is new in template.yaml: add the actions CloudFormation needs for it to "
            "CloudFormationExecutionRole in pipeline/bootstrap.yaml, then its prefix to IAM_PREFIX here."
        )
        assert IAM_PREFIX[namespace] in granted, resource_type


def test_given_the_outputs_then_they_are_what_the_tasks_and_the_workflow_read(staging: Stack) -> None:
    assert set(staging.outputs) == {
        "DeployRoleArn",
        "ArtifactsBucket",
        "CloudFormationExecutionRoleArn",
        "OidcProviderArn",
        "PermissionsBoundaryArn",
    }


# ---------------------------------------------------------------------------------------------- devkit.delivery.aws


class _FakeCloudFormation:
    def __init__(self, stacks: dict[str, dict[str, Any]]) -> None:
        self.stacks = stacks

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if StackName not in self.stacks:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        return {"Stacks": [self.stacks[StackName]]}


def test_given_no_bootstrap_when_deploying_then_the_message_names_the_task_to_run() -> None:
    with pytest.raises(ToolingError, match=r"invoke bootstrap --stage prod --repository OWNER/REPO"):
        pipeline_resources(_FakeCloudFormation({}), "prod")


def test_given_a_failed_bootstrap_when_deploying_then_it_counts_as_none() -> None:
    failed = {"product-purchase-pipeline-qa": {"StackStatus": "ROLLBACK_COMPLETE", "Outputs": []}}
    with pytest.raises(ToolingError, match="invoke bootstrap --stage qa"):
        pipeline_resources(_FakeCloudFormation(failed), "qa")


def test_given_a_bootstrap_when_deploying_then_sam_uploads_to_its_bucket_and_deploys_as_its_role() -> None:
    outputs = {
        "DeployRoleArn": "arn:deploy",
        "ArtifactsBucket": "bucket",
        "CloudFormationExecutionRoleArn": "arn:cfn",
        "PermissionsBoundaryArn": "arn:boundary",
    }
    stack = {
        "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
    }
    resources = pipeline_resources(_FakeCloudFormation({"product-purchase-pipeline-prod": stack}), "prod")
    assert resources == PipelineResources("arn:deploy", "bucket", "arn:cfn", "arn:boundary")
    arguments = resources.sam_deploy_arguments("prod")
    assert arguments[arguments.index("--s3-bucket") + 1] == "bucket"
    assert arguments[arguments.index("--role-arn") + 1] == "arn:cfn"
    assert "--no-resolve-s3" in arguments
    # The stage's samconfig overrides, plus the boundary the execution role requires on every role
    overrides = arguments[arguments.index("--parameter-overrides") + 1 :]
    assert overrides == ["StageName=prod", "PermissionsBoundary=arn:boundary"]


def test_given_a_bootstrap_without_a_boundary_output_then_deploying_says_to_run_bootstrap_again() -> None:
    outputs = {
        "DeployRoleArn": "arn:deploy",
        "ArtifactsBucket": "b",
        "CloudFormationExecutionRoleArn": "arn:cfn",
    }
    stack = {
        "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
    }
    with pytest.raises(ToolingError, match="invoke bootstrap --stage qa"):
        pipeline_resources(_FakeCloudFormation({"product-purchase-pipeline-qa": stack}), "qa")


@pytest.mark.parametrize("repository", ["", "owner", "owner/", "/repo", "a/b/c"])
def test_given_a_malformed_repository_then_bootstrap_refuses_it(repository: str) -> None:
    with pytest.raises(ToolingError, match="OWNER/REPO"):
        bootstrap_parameters("dev", repository, None)


def test_given_a_deployed_stage_when_bootstrapping_then_its_websocket_api_id_is_passed() -> None:
    deployed = {
        "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": "NotificationApiId", "OutputValue": "a1b2c3d4e5"}],
    }
    cloudformation = _FakeCloudFormation({"product-purchase-qa": deployed})
    # Given the stage's stack exists, then its API id is read; before its first deploy there is none
    assert stage_notification_api_id(cloudformation, "qa") == "a1b2c3d4e5"
    assert stage_notification_api_id(cloudformation, "prod") == ""
    parameters = bootstrap_parameters("qa", REPOSITORY, None, notification_api_id="a1b2c3d4e5")
    assert parameters["NotificationApiId"] == "a1b2c3d4e5"
    assert set(parameters) <= set(load_template(BOOTSTRAP_TEMPLATE)["Parameters"])


def test_given_the_template_file_then_it_is_where_the_tasks_look() -> None:
    assert BOOTSTRAP_TEMPLATE.exists()
    assert load_template(BOOTSTRAP_TEMPLATE).get("Transform") is None


# ---------------------------------------------------------------------------------------------- least privilege


def _sub(value: Any) -> str:
    return str(value["Fn::Sub"]) if isinstance(value, dict) and "Fn::Sub" in value else str(value)


def _granting(stack: Stack, role: str, prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for statement in statements(stack, role)
        if any(action.startswith(prefix) for action in as_list(statement["Action"]))
    ]


BOUNDARY = {"Ref": "PermissionsBoundaryPolicy"}
# IAM actions that give a role permissions (or change its boundary).
GRANTING_IAM = {
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DetachRolePolicy",
    "iam:DeleteRolePolicy",
}
STACK_ROLES = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/product-purchase-${StageName}-*"


def test_given_the_execution_role_then_it_gives_roles_permissions_only_under_the_boundary(
    staging: Stack,
) -> None:
    for statement in _granting(staging, "CloudFormationExecutionRole", "iam:"):
        actions = set(as_list(statement["Action"]))
        # Only the stack's own roles, by name
        assert _sub(statement["Resource"]) == STACK_ROLES, statement
        if actions & GRANTING_IAM:
            assert statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == BOUNDARY, statement
        # Never removes a boundary, and never makes or edits a managed policy (the boundary included)
        assert not actions & {
            "iam:DeleteRolePermissionsBoundary",
            "iam:CreatePolicy",
            "iam:CreatePolicyVersion",
            "iam:SetDefaultPolicyVersion",
            "iam:DeletePolicy",
        }, statement


def test_given_the_execution_role_then_it_attaches_only_the_named_aws_policies(staging: Stack) -> None:
    (statement,) = [
        s
        for s in statements(staging, "CloudFormationExecutionRole")
        if "iam:AttachRolePolicy" in as_list(s["Action"])
    ]
    allowed = {_sub(arn) for arn in statement["Condition"]["ArnEquals"]["iam:PolicyARN"]}
    assert allowed == {
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda",
    }
    # And those are exactly the managed policies the service stack's roles name
    everything = {
        "StageName": "prod",
        "CreateApiGatewayAccount": "true",
        "PermissionsBoundary": _BOUNDARY_ARN,
    }
    service = Stack(sam_transform(load_template(TEMPLATE, inline_includes=True), everything), everything)
    named = {
        _sub(arn)
        for role in service.of_type("AWS::IAM::Role").values()
        for arn in role["Properties"].get("ManagedPolicyArns", [])
    }
    assert named == allowed


def test_given_the_execution_role_then_its_key_pool_api_and_certificate_actions_need_the_stacks_tag(
    staging: Stack,
) -> None:
    tag_value = {"Fn::Sub": "product-purchase-${StageName}"}
    for prefix in ("kms:", "cognito-idp:", "acm:"):
        for statement in _granting(staging, "CloudFormationExecutionRole", prefix):
            condition = statement["Condition"]["StringEquals"]
            assert tag_value in (
                condition.get("aws:RequestTag/product-purchase:stack"),
                condition.get("aws:ResourceTag/product-purchase:stack"),
            ), statement
    # API Gateway: APIs and domains by tag; only the v2 API's untaggable children and the account setting by path
    for statement in _granting(staging, "CloudFormationExecutionRole", "apigateway:"):
        resources = [_sub(resource) for resource in as_list(statement["Resource"])]
        if statement["Sid"] == "WebSocketApiChildren":
            assert all(r.split("::/apis/*/")[1].rstrip("*") in {"routes", "integrations", "authorizers", "stages"}
                       for r in resources), resources  # fmt: skip
        elif statement["Sid"] == "ApiAccount":
            assert resources == ["arn:${AWS::Partition}:apigateway:${AWS::Region}::/account"]
        else:
            condition = statement["Condition"]["StringEquals"]
            assert tag_value in condition.values(), statement
    # KMS: no skipping the key policy lockout check
    (create,) = [
        s
        for s in statements(staging, "CloudFormationExecutionRole")
        if "kms:CreateKey" in as_list(s["Action"])
    ]
    assert create["Condition"]["Bool"] == {"kms:BypassPolicyLockoutSafetyCheck": "false"}


def test_given_no_custom_domain_then_the_execution_role_touches_no_certificate_or_dns(staging: Stack) -> None:
    assert _granting(staging, "CloudFormationExecutionRole", "acm:") == []
    assert _granting(staging, "CloudFormationExecutionRole", "route53:") == []


def test_given_a_custom_domain_then_only_its_zone_and_name_may_change() -> None:
    parameters = {
        "StageName": "prod",
        "GitHubRepository": REPOSITORY,
        "OidcProviderArn": "",
        "DomainName": "api.example.com",
        "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    }
    stack = Stack(load_template(BOOTSTRAP_TEMPLATE), parameters)
    for statement in _granting(stack, "CloudFormationExecutionRole", "route53:"):
        resource = _sub(statement["Resource"])
        assert resource.endswith("hostedzone/${HostedZoneId}") or resource.endswith(":::change/*"), resource
        if "route53:ChangeResourceRecordSets" in as_list(statement["Action"]):
            names = statement["Condition"]["ForAllValues:StringLike"]
            assert names["route53:ChangeResourceRecordSetsNormalizedRecordNames"][0] == {"Ref": "DomainName"}
    (certificate,) = [
        s
        for s in statements(stack, "CloudFormationExecutionRole")
        if "acm:RequestCertificate" in as_list(s["Action"])
    ]
    assert certificate["Condition"]["ForAllValues:StringEquals"] == {
        "acm:DomainNames": [{"Ref": "DomainName"}]
    }


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_given_the_deploy_role_then_prod_has_no_data_access_and_other_stages_only_the_suites(
    stage: str,
) -> None:
    data = {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
    }
    granted = {
        action for s in statements(bootstrapped(stage), "DeployRole") for action in as_list(s["Action"])
    }
    if stage == "prod":
        assert not granted & data
        assert not any(action.startswith(("dynamodb:", "sqs:")) for action in granted)
    else:
        assert granted & data == data - {"dynamodb:PutItem"}


def test_given_the_boundary_then_it_grants_no_iam_no_key_or_pool_administration(staging: Stack) -> None:
    boundary = staging.resources["PermissionsBoundaryPolicy"]
    assert boundary["Type"] == "AWS::IAM::ManagedPolicy"
    assert _sub(boundary["Properties"]["ManagedPolicyName"]) == "product-purchase-${StageName}-boundary"
    granted = [
        (action, _sub(resource))
        for statement in boundary["Properties"]["PolicyDocument"]["Statement"]
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]
    assert all(
        statement["Effect"] == "Allow" for statement in boundary["Properties"]["PolicyDocument"]["Statement"]
    )
    actions = {action for action, _ in granted}
    assert not any(action.startswith(("iam:", "sts:", "organizations:")) or action.endswith(":*")
                   for action in actions), actions  # fmt: skip
    # Keys are used (message authentication codes), never managed; pools are looked up, never managed
    assert {a for a in actions if a.startswith("kms:")} <= {"kms:GenerateMac", "kms:VerifyMac"}
    assert {a for a in actions if a.startswith("cognito-idp:")} <= {
        "cognito-idp:DescribeUserPoolClient",
        "cognito-idp:ListUserPoolClients",
    }
    # Only X-Ray, which accepts nothing else, is granted on '*'
    assert {action for action, resource in granted if resource == "*"} == {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    # It covers what the service stack's roles are given (else a deploy would leave a function unable to work)
    everything = {"StageName": "prod", "PermissionsBoundary": _BOUNDARY_ARN}
    service = Stack(sam_transform(load_template(TEMPLATE, inline_includes=True), everything), everything)
    needed = {
        action
        for resource in [
            *service.of_type("AWS::IAM::Role").values(),
            *service.of_type("AWS::IAM::Policy").values(),
        ]
        for policy in resource["Properties"].get("Policies", [resource["Properties"]])
        if "PolicyDocument" in policy
        for statement in as_list(policy["PolicyDocument"]["Statement"])
        for action in as_list(statement["Action"])
    }
    assert needed <= actions, needed - actions


_BOUNDARY_ARN = "arn:aws:iam::123456789012:policy/product-purchase-prod-boundary"


@pytest.mark.parametrize("boundary", ["", _BOUNDARY_ARN])
def test_given_the_service_stack_then_every_role_carries_the_boundary_it_is_given(boundary: str) -> None:
    parameters = {"StageName": "prod", "CreateApiGatewayAccount": "true", "PermissionsBoundary": boundary}
    service = Stack(sam_transform(load_template(TEMPLATE, inline_includes=True), parameters), parameters)
    roles = service.of_type("AWS::IAM::Role")
    # SAM's own CodeDeploy role could not carry it: the stack names its own
    assert "CodeDeployServiceRole" not in roles and "DeploymentRole" in roles
    for logical_id, role in roles.items():
        if boundary:
            assert role["Properties"]["PermissionsBoundary"] == {"Ref": "PermissionsBoundary"}, logical_id
        else:
            assert "PermissionsBoundary" not in role["Properties"], logical_id


def test_given_the_service_stack_then_what_the_execution_role_checks_by_tag_carries_the_stacks_tag() -> None:
    from devkit.core.project import stack_name

    # The bootstrap's condition value, product-purchase-<stage>, is the stack's name
    assert stack_name("qa") == "product-purchase-qa"
    parameters = {
        "StageName": "prod",
        "DomainName": "api.example.com",
        "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    }
    service = Stack(sam_transform(load_template(TEMPLATE, inline_includes=True), parameters), parameters)
    stack_tag = {"Ref": "AWS::StackName"}

    def tags(logical_id: str, key: str = "Tags") -> dict[str, Any]:
        value = service.properties(logical_id)[key]
        return value if isinstance(value, dict) else {tag["Key"]: tag["Value"] for tag in value}

    assert tags("UserPool", "UserPoolTags")["product-purchase:stack"] == stack_tag
    for logical_id in (
        "AlarmTopicKey",
        "NotificationApi",
        "ProductPurchaseApi",
        "ApiCertificate",
        "ApiCustomDomain",
    ):
        assert tags(logical_id)["product-purchase:stack"] == stack_tag, logical_id


# ---------------------------------------------------------------------------------------------- stage isolation
# Stages may share an account, so every permission a stage's roles and boundaries grant must name that stage's own
# resources: by name (product-purchase-<stage>-...), by the stage's tag (product-purchase:stack), or by a condition
# naming the stage's functions, roles or execution role. A tag must not be settable on another stage's resource.

STAGE_TAG_KEY = "product-purchase:stack"
STAGE_TAG = {"Fn::Sub": "product-purchase-${StageName}"}
EXECUTION_ROLE_ARN = {"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}
STAGE_PREFIX = "product-purchase-${StageName}-"
# Where a name, not a prefix, says the stage: the API stage named after it, the stack, the stage's parameters.
# The bootstrap's own stack is the stage's too (product-purchase-pipeline-<stage>).
STAGE_NAMED = ("/${StageName}/", "/${StageName}:*", "stack/product-purchase-${StageName}/", "${NotificationApiId}",
               "${ArtifactsBucket.Arn}", "hostedzone/${HostedZoneId}", "stack/${AWS::StackName}/")  # fmt: skip
# Resources of nobody's stage, named by AWS: the transforms, AWS managed policies, the predefined configurations.
AWS_OWNED = (":aws:transform/", ":iam::aws:policy/", "deploymentconfig:CodeDeployDefault.Lambda")
# Statements that cannot name a stage, and why. Each is read-only, account-wide by nature, or names nothing real.
NOT_STAGE_SCOPED = {
    "Tracing": "X-Ray accepts no resource but '*'; it only writes trace segments",
    "ApiAccount": "the region's API Gateway logging role setting is one per account (docs/deploying.md)",
    "EventSourceMappingReads": "a mapping is named by a generated UUID; reading one shows settings, never data",
    "CustomDomainChanges": "route53:GetChange reads the status of a DNS change by its generated id",
    "LogDeliveries": "a log delivery has no resource of its own; the ARN names the empty log group, none real",
}
# Per service, the actions that set and remove tags (API Gateway's are POST/PUT and DELETE on /tags/<arn>).
TAG_ACTIONS = {
    "acm": ("AddTagsToCertificate", "RemoveTagsFromCertificate"),
    "iam": ("TagRole", "UntagRole"),
    "sqs": ("TagQueue", "UntagQueue"),
    **{
        service: ("TagResource", "UntagResource")
        for service in ("kms", "cognito-idp", "lambda", "dynamodb", "logs", "sns", "cloudwatch", "codedeploy")
    },
}


def _conditions(statement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    conditions: dict[str, dict[str, Any]] = statement.get("Condition", {})
    return conditions


def _condition(statement: dict[str, Any], operator: str, key: str) -> Any:
    return _conditions(statement).get(operator, {}).get(key)


def _names_the_stage(resource: Any) -> bool:
    if resource in (EXECUTION_ROLE_ARN, {"Fn::GetAtt": ["ArtifactsBucket", "Arn"]}, BOUNDARY):
        return True
    arn = _sub(resource)
    return (
        STAGE_PREFIX in arn
        or arn.endswith("/${StageName}")
        or any(part in arn for part in STAGE_NAMED + AWS_OWNED)
    )


def _held_by_stage_condition(statement: dict[str, Any]) -> bool:
    """A condition only the stage's own resources, functions, roles or execution role meet."""
    resource_tag = _condition(statement, "StringEquals", f"aws:ResourceTag/{STAGE_TAG_KEY}")
    request_tag = _condition(statement, "StringEquals", f"aws:RequestTag/{STAGE_TAG_KEY}")
    untagged = _condition(statement, "Null", f"aws:ResourceTag/{STAGE_TAG_KEY}") == "true"
    stage_arns = [
        _sub(_condition(statement, "ArnLike", key)) for key in ("lambda:FunctionArn", "aws:PrincipalArn")
    ]
    return (
        resource_tag == STAGE_TAG
        # Created with the stage's tag (nothing tagged yet is being changed)
        or (request_tag == STAGE_TAG and untagged)
        or any(STAGE_PREFIX in arn for arn in stage_arns)
        or _condition(statement, "StringEquals", "cloudformation:RoleArn") == EXECUTION_ROLE_ARN
    )


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _denied_in_document(document: list[dict[str, Any]], action: str, operator: str, key: str) -> bool:
    """Whether a Deny of the same document refuses `action` whenever the condition key says so."""
    return any(
        deny["Effect"] == "Deny"
        and any(_matches(pattern, action) for pattern in as_list(deny["Action"]))
        and key in _conditions(deny).get(operator, {})
        for deny in document
    )


def _tagging_problem(statement: dict[str, Any], document: list[dict[str, Any]]) -> str | None:
    """Why a statement lets a tag move a resource between stages, or None. A name-scoped statement cannot (the
    name, not a tag, decides); otherwise setting a tag needs the stage's tag on the resource (or none yet, for the
    resource being created) AND as the tag set, and removing tags must spare the stage's tag."""
    resources = as_list(statement["Resource"])
    if all(_names_the_stage(resource) for resource in resources):
        return None
    tagging_paths = any(r == "*" or "/tags/" in _sub(r) for r in resources)
    for pattern in as_list(statement["Action"]):
        service = pattern.split(":")[0]
        tag, untag = TAG_ACTIONS.get(service, ("", ""))
        tag_actions = [f"{service}:{tag}"] if tag else []
        untag_actions = [f"{service}:{untag}"] if untag else []
        if service == "apigateway" and tagging_paths:
            tag_actions, untag_actions = ["apigateway:POST", "apigateway:PUT"], ["apigateway:DELETE"]
        for action in (a for a in tag_actions if _matches(pattern, a)):
            resource_tag = _condition(statement, "StringEquals", f"aws:ResourceTag/{STAGE_TAG_KEY}")
            untagged = _condition(statement, "Null", f"aws:ResourceTag/{STAGE_TAG_KEY}") == "true"
            request_tag = _condition(statement, "StringEquals", f"aws:RequestTag/{STAGE_TAG_KEY}")
            if not (resource_tag == STAGE_TAG or untagged):
                return f"{action} on a resource whatever its tag"
            if request_tag != STAGE_TAG and not _denied_in_document(
                document, action, "StringNotEquals", f"aws:RequestTag/{STAGE_TAG_KEY}"
            ):
                return f"{action} may set another stage's tag"
        for action in (a for a in untag_actions if _matches(pattern, a)):
            spares_the_stage_tag = _condition(statement, "ForAllValues:StringNotEquals", "aws:TagKeys") == [
                STAGE_TAG_KEY
            ] or _denied_in_document(document, action, "ForAnyValue:StringEquals", "aws:TagKeys")
            if not spares_the_stage_tag:
                return f"{action} may remove the stage's tag"
    return None


def unscoped_statements(document: list[dict[str, Any]]) -> list[str]:
    """The statements of a policy document that reach beyond the stage, each with the reason."""
    found = []
    for statement in document:
        if statement["Effect"] == "Deny":
            continue  # a Deny only takes away
        label = statement.get("Sid") or json.dumps(statement, sort_keys=True)[:120]
        if statement.get("Sid") in NOT_STAGE_SCOPED:
            continue
        resources = as_list(statement["Resource"])
        if not (all(_names_the_stage(r) for r in resources) or _held_by_stage_condition(statement)):
            found.append(f"{label}: {[_sub(r) for r in resources]} names no stage and has no stage condition")
        problem = _tagging_problem(statement, document)
        if problem:
            found.append(f"{label}: {problem}")
    return found


def policy_documents(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Every policy the bootstrap writes: the deploy role's, the execution role's and both boundaries."""
    documents = {
        "DeployRole": statements(stack, "DeployRole"),
        "CloudFormationExecutionRole": statements(stack, "CloudFormationExecutionRole"),
    }
    for logical_id in stack.of_type("AWS::IAM::ManagedPolicy"):
        documents[logical_id] = as_list(stack.properties(logical_id)["PolicyDocument"]["Statement"])
    return documents


WEBSOCKET_API_ID = "a1b2c3d4e5"


def pinned(stage: str, **extra: str) -> Stack:
    """A stage's bootstrap once its stack exists (`invoke bootstrap` passes the WebSocket API's id)."""
    parameters = {"StageName": stage, "GitHubRepository": REPOSITORY, "OidcProviderArn": ""}
    return Stack(
        load_template(BOOTSTRAP_TEMPLATE), {**parameters, "NotificationApiId": WEBSOCKET_API_ID, **extra}
    )


@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
@pytest.mark.parametrize(
    "domain", [{}, {"DomainName": "api.example.com", "HostedZoneId": "Z0123456789ABCDEFGHIJ"}]
)
def test_given_a_stage_then_every_statement_of_its_roles_and_boundaries_names_its_own_resources(
    stage: str, domain: dict[str, str]
) -> None:
    documents = policy_documents(pinned(stage, **domain))
    assert {"PermissionsBoundaryPolicy", "ExecutionRoleBoundaryPolicy"} <= set(documents)
    problems = {name: unscoped_statements(document) for name, document in documents.items()}
    assert {name: found for name, found in problems.items() if found} == {}


def test_given_a_stage_before_its_first_deploy_then_only_the_websocket_children_reach_any_api() -> None:
    # The v2 API's routes carry no tag and inherit none: before the API exists, only its id-less path can be named.
    problems = [
        problem for document in policy_documents(bootstrapped("staging")).values()
        for problem in unscoped_statements(document)
    ]  # fmt: skip
    assert problems and all(
        problem.startswith(("WebSocketApiChildren:", "StageWebSocketApiAndAccount:")) for problem in problems
    ), problems


PLANTED: dict[str, dict[str, Any]] = {
    # What the findings were: each must be reported.
    "client secrets of every pool": {
        "Effect": "Allow",
        "Action": "cognito-idp:DescribeUserPoolClient",
        "Resource": {
            "Fn::Sub": "arn:${AWS::Partition}:cognito-idp:${AWS::Region}:${AWS::AccountId}:userpool/*"
        },
    },
    "every log group": {
        "Effect": "Allow",
        "Action": ["logs:GetLogEvents", "logs:FilterLogEvents"],
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"},
    },
    "any API's connections": {
        "Effect": "Allow",
        "Action": "execute-api:ManageConnections",
        "Resource": {
            "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*/*/*/@connections/*"
        },
    },
    "any function's event sources": {
        "Effect": "Allow",
        "Action": ["lambda:CreateEventSourceMapping", "lambda:DeleteEventSourceMapping"],
        "Resource": "*",
    },
    "retagging any key into the stage": {
        "Effect": "Allow",
        "Action": ["kms:CreateKey", "kms:TagResource"],
        "Resource": "*",
        "Condition": {"StringEquals": {f"aws:RequestTag/{STAGE_TAG_KEY}": STAGE_TAG}},
    },
    "removing the stage's tag": {
        "Effect": "Allow",
        "Action": "cognito-idp:UntagResource",
        "Resource": {
            "Fn::Sub": "arn:${AWS::Partition}:cognito-idp:${AWS::Region}:${AWS::AccountId}:userpool/*"
        },
        "Condition": {"StringEquals": {f"aws:ResourceTag/{STAGE_TAG_KEY}": STAGE_TAG}},
    },
    "change sets run by any role": {
        "Effect": "Allow",
        "Action": "cloudformation:CreateChangeSet",
        "Resource": "*",
    },
}


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_given_a_planted_unscoped_statement_then_it_is_reported(planted: str) -> None:
    documents = policy_documents(pinned("staging"))
    boundary = [*documents["PermissionsBoundaryPolicy"], PLANTED[planted]]
    assert unscoped_statements(boundary), planted


def test_given_the_deploy_role_then_it_creates_change_sets_only_run_by_the_stages_execution_role() -> None:
    creating = [
        s for s in statements(pinned("prod"), "DeployRole") if "cloudformation:CreateChangeSet" in as_list(s["Action"])
    ]  # fmt: skip
    (statement,) = creating
    assert as_list(statement["Action"]) == ["cloudformation:CreateChangeSet"]
    assert statement["Condition"] == {"StringEquals": {"cloudformation:RoleArn": EXECUTION_ROLE_ARN}}


def test_given_the_execution_role_then_event_source_mappings_change_only_for_the_stages_functions() -> None:
    for statement in statements(pinned("staging"), "CloudFormationExecutionRole"):
        actions = [a for a in as_list(statement["Action"]) if "EventSourceMapping" in a]
        if any(not a.startswith("lambda:Get") for a in actions):
            assert _sub(_condition(statement, "ArnLike", "lambda:FunctionArn")) == (
                "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:product-purchase-${StageName}-*"
            ), statement


def test_given_a_deployed_stage_then_the_websocket_children_are_those_of_its_api_only() -> None:
    stack = pinned("staging")
    children = [
        _sub(resource)
        for name in ("CloudFormationExecutionRole",)
        for statement in statements(stack, name)
        if statement.get("Sid") == "WebSocketApiChildren"
        for resource in as_list(statement["Resource"])
    ]
    assert children and all("/apis/${NotificationApiId}/" in arn for arn in children), children
    assert stack.parameters["NotificationApiId"] == WEBSOCKET_API_ID


def _role_grants(stack: Stack) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (action, _sub(resource), statement)
        for statement in statements(stack, "CloudFormationExecutionRole")
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


@pytest.mark.parametrize(
    "domain", [{}, {"DomainName": "api.example.com", "HostedZoneId": "Z0123456789ABCDEFGHIJ"}]
)
def test_given_the_execution_role_then_it_has_a_boundary_that_allows_all_it_does_and_nothing_of_another_stage(
    domain: dict[str, str],
) -> None:
    stack = pinned("staging", **domain)
    assert stack.properties("CloudFormationExecutionRole")["PermissionsBoundary"] == {
        "Ref": "ExecutionRoleBoundaryPolicy"
    }
    boundary = as_list(stack.properties("ExecutionRoleBoundaryPolicy")["PolicyDocument"]["Statement"])
    allows = [s for s in boundary if s["Effect"] == "Allow"]
    # Every action on every resource the role's policies grant falls within one boundary statement, with the same
    # stage condition where the role's statement is held by one (else a deploy on AWS would be refused).
    for action, resource, statement in _role_grants(stack):
        covering = [
            s for s in allows
            if any(_matches(p, action) for p in as_list(s["Action"]))
            and any(_matches(_sub(r), resource) for r in as_list(s["Resource"]))
            and (s.get("Condition") is None or _held_by_stage_condition(statement))
        ]  # fmt: skip
        assert covering, (action, resource)
    # And it never lets a boundary or a managed policy be weakened, whatever is attached to the role
    (never,) = [s for s in boundary if s.get("Sid") == "NeverLoosenTheLimits"]
    assert never["Effect"] == "Deny" and never["Resource"] == "*"
    assert {
        "iam:DeleteRolePermissionsBoundary",
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
    } <= set(never["Action"])


_LONGEST_STACK = "product-purchase-staging"
# CloudFormation names an unnamed resource <stack>-<logical id>-<suffix of up to 13 characters>, cutting the stack's
# and the logical id's part when the whole would exceed the service's limit: then the name would lose the stage
# prefix the policies scope by. The limits of the resource types the stack leaves unnamed:
_NAME_LIMITS = {
    "AWS::Lambda::Function": 64,
    "AWS::IAM::Role": 64,
    "AWS::SQS::Queue": 80,
    "AWS::DynamoDB::Table": 255,
    "AWS::SNS::Topic": 256,
    "AWS::CloudWatch::Alarm": 255,
    "AWS::CodeDeploy::Application": 100,
    "AWS::CodeDeploy::DeploymentGroup": 100,
}
_NAME_PROPERTIES = {
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CodeDeploy::Application": "ApplicationName",
    "AWS::CodeDeploy::DeploymentGroup": "DeploymentGroupName",
}


def test_given_the_service_stack_then_every_name_the_policies_scope_by_carries_the_stage_prefix() -> None:
    parameters = {
        "StageName": "staging",
        "CreateApiGatewayAccount": "true",
        "AlarmEmail": "oncall@example.com",
    }
    service = Stack(sam_transform(load_template(TEMPLATE, inline_includes=True), parameters), parameters)
    for resource_type, limit in _NAME_LIMITS.items():
        resources = service.of_type(resource_type)
        assert resources, resource_type
        for logical_id, resource in resources.items():
            # Unnamed, so CloudFormation names it after the stack, and the whole name fits uncut
            assert _NAME_PROPERTIES[resource_type] not in resource["Properties"], logical_id
            assert len(f"{_LONGEST_STACK}-{logical_id}-ABCDEFGHIJKLM") <= limit, logical_id
    # Log groups are named explicitly: each matches what the boundary lets the stage's roles write
    boundary = pinned("staging").properties("PermissionsBoundaryPolicy")["PolicyDocument"]["Statement"]
    (logs,) = [s for s in boundary if s["Sid"] == "StageLogs"]
    patterns = [_sub(r).split(":log-group:")[1] for r in as_list(logs["Resource"])]
    functions = {
        lid: f"{_LONGEST_STACK}-{lid}-ABCDEFGHIJKLM" for lid in service.of_type("AWS::Lambda::Function")
    }
    names = {
        "AWS::StackName": _LONGEST_STACK,
        "StageName": "staging",
        "ProductPurchaseApi": "a1b2c3d4e5",
        **functions,
    }
    for logical_id, group in service.of_type("AWS::Logs::LogGroup").items():
        name = group["Properties"]["LogGroupName"]
        resolved = re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], _sub(name))
        expanded = [p.replace("${StageName}", "staging") for p in patterns]
        assert any(_matches(p, resolved) for p in expanded), (logical_id, resolved)
