"""pipeline/bootstrap.yaml: who may deploy a stage (GitHub OIDC, one repository, that stage's environment), where
artifacts go (private, encrypted, TLS only, expiring) and what CloudFormation may do with the execution role."""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from test_template import TEMPLATE, Stack, as_list, sam_transform

from devkit.delivery import BOOTSTRAP_TEMPLATE, PipelineResources, bootstrap_parameters, pipeline_resources
from devkit.project import ToolingError
from devkit.template import load_template

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
                "Fn::Sub": "repo:${GitHubRepository}:environment:${StageName}"
            },
        }
    }
    # Resolved for this stage: the subject is exactly one repository's environment named after the stage.
    subject = statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]["Fn::Sub"]
    resolved = subject.replace("${GitHubRepository}", REPOSITORY).replace("${StageName}", stage)
    assert resolved == f"repo:{REPOSITORY}:environment:{stage}"
    assert "*" not in resolved


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


def test_given_every_resource_type_of_the_service_stack_then_the_execution_role_may_manage_it(
    staging: Stack,
) -> None:
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
        for statement in statements(staging, "CloudFormationExecutionRole")
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
    }


# ---------------------------------------------------------------------------------------------- devkit.delivery


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
    }
    stack = {
        "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
    }
    resources = pipeline_resources(_FakeCloudFormation({"product-purchase-pipeline-prod": stack}), "prod")
    assert resources == PipelineResources("arn:deploy", "bucket", "arn:cfn")
    arguments = resources.sam_deploy_arguments("prod")
    assert arguments[arguments.index("--s3-bucket") + 1] == "bucket"
    assert arguments[arguments.index("--role-arn") + 1] == "arn:cfn"
    assert "--no-resolve-s3" in arguments


@pytest.mark.parametrize("repository", ["", "owner", "owner/", "/repo", "a/b/c"])
def test_given_a_malformed_repository_then_bootstrap_refuses_it(repository: str) -> None:
    with pytest.raises(ToolingError, match="OWNER/REPO"):
        bootstrap_parameters("dev", repository, None)


def test_given_the_template_file_then_it_is_where_the_tasks_look() -> None:
    assert BOOTSTRAP_TEMPLATE.exists()
    assert load_template(BOOTSTRAP_TEMPLATE).get("Transform") is None
