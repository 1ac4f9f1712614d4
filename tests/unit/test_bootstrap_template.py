"""pipeline/bootstrap.yaml: who may deploy a stage (GitHub OIDC, one repository, that stage's environment), where
artifacts go (private, encrypted, TLS only, expiring) and what CloudFormation may do with the execution role."""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from test_template import TEMPLATE, Stack, as_list, sam_transform

from devkit.core.project import ToolingError
from devkit.core.template import load_template
from devkit.delivery.aws import (
    BOOTSTRAP_TEMPLATE,
    PipelineResources,
    bootstrap_parameters,
    pipeline_resources,
)

REPOSITORY = "example-org/product-purchase"


def bootstrapped(stage: str, oidc_provider_arn: str = "") -> Stack:
    parameters = {"StageName": stage, "GitHubRepository": REPOSITORY, "OidcProviderArn": oidc_provider_arn}
    return Stack(load_template(BOOTSTRAP_TEMPLATE), parameters)


@pytest.fixture(scope="module")
def staging() -> Stack:
    return bootstrapped("staging")


def statements(stack: Stack, role: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in stack.properties(role)["Policies"]:
        found += as_list(policy["PolicyDocument"]["Statement"])
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
    assert not any(action.startswith(("iam:", "kms:", "sts:", "organizations:")) or action.endswith(":*")
                   for action in actions), actions  # fmt: skip
    assert {a for a in actions if a.startswith("cognito-idp:")} == {"cognito-idp:DescribeUserPoolClient"}
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
