"""Safe delivery to AWS: the per-stage bootstrap (OIDC deploy role, artifacts bucket, execution role, the permissions
boundary of the stack's roles), executing a
reviewed change set, following CodeDeploy's traffic shift until it completes or rolls back, and stopping it.

The clients are passed in (boto3 ones, or in-memory fakes in the unit tests: no CodeDeploy runs on this machine).
"""

from __future__ import annotations

import datetime
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from devkit.core.project import ROOT, ToolingError, stack_name
from devkit.core.template import dump_template, load_template
from devkit.core.waiting import DeadlineExceeded, wait_for

BOOTSTRAP_TEMPLATE = ROOT / "pipeline" / "bootstrap.yaml"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# A canary is 5 minutes plus the alarms' 2-minute windows; CloudFormation itself gives up on a stack after hours.
FOLLOW_TIMEOUT = 3600.0
FOLLOW_INTERVAL = 5.0
_RUNNING = ["Created", "Queued", "InProgress", "Baking", "Ready"]
_FINAL = ("Succeeded", "Failed", "Stopped")

Progress = Callable[[str], None]


def bootstrap_stack_name(stage: str) -> str:
    return f"product-purchase-pipeline-{stage}"


def samconfig_overrides(stage: str) -> list[str]:
    """The stage's `parameter_overrides` in samconfig.toml, as `Key=Value` items."""
    from devkit.delivery.sam import CONFIG

    with CONFIG.open("rb") as config:
        environment = tomllib.load(config).get(stage, {})
    overrides = environment.get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    return shlex.split(overrides) if isinstance(overrides, str) else [str(item) for item in overrides]


@dataclass(frozen=True)
class PipelineResources:
    deploy_role_arn: str
    artifacts_bucket: str
    execution_role_arn: str
    # The managed policy every role of the stack must carry: the execution role creates no role without it.
    permissions_boundary_arn: str

    def sam_deploy_arguments(self, stage: str) -> list[str]:
        """What `sam deploy` needs to upload to the bootstrap's bucket, deploy as its execution role and put the
        boundary on every role (its overrides replace samconfig's as a whole, so the stage's come first)."""
        return [
            "--no-resolve-s3",
            "--s3-bucket",
            self.artifacts_bucket,
            "--s3-prefix",
            stack_name(stage),
            "--role-arn",
            self.execution_role_arn,
            "--parameter-overrides",
            *samconfig_overrides(stage),
            f"PermissionsBoundary={self.permissions_boundary_arn}",
        ]


def pipeline_resources(cloudformation: Any, stage: str) -> PipelineResources:
    """The stage's bootstrap outputs; a ToolingError naming the task to run when the account has none."""
    name = bootstrap_stack_name(stage)
    try:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" not in str(error):
            raise
        stack = None
    if stack is None or not stack["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in stack["StackStatus"]:
        raise ToolingError(
            f"Stage {stage} has no delivery bootstrap in this account and region (stack {name}): an account "
            f"owner runs `invoke bootstrap --stage {stage} --repository OWNER/REPO` once, then deploys work."
        )
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    if "PermissionsBoundaryArn" not in outputs:
        raise ToolingError(
            f"The delivery bootstrap of stage {stage} (stack {name}) predates the permissions boundary: an account "
            f"owner runs `invoke bootstrap --stage {stage} --repository OWNER/REPO` again, then deploys work."
        )
    return PipelineResources(
        outputs["DeployRoleArn"],
        outputs["ArtifactsBucket"],
        outputs["CloudFormationExecutionRoleArn"],
        outputs["PermissionsBoundaryArn"],
    )


# ---------------------------------------------------------------------------------------------- bootstrap


def github_oidc_provider(iam: Any) -> str | None:
    """The ARN of the account's GitHub Actions OIDC provider, if it has one (an account holds one per URL)."""
    for provider in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
        if provider["Arn"].endswith(f"/{GITHUB_OIDC_HOST}"):
            arn: str = provider["Arn"]
            return arn
    return None


def bootstrap_parameters(
    stage: str,
    repository: str,
    oidc_provider_arn: str | None,
    *,
    domain_name: str = "",
    hosted_zone_id: str = "",
) -> dict[str, str]:
    if repository.count("/") != 1 or not all(repository.split("/")):
        raise ToolingError(f"--repository must be OWNER/REPO (the GitHub repository), not {repository!r}.")
    if bool(domain_name) != bool(hosted_zone_id):
        raise ToolingError(
            "--domain-name and --hosted-zone-id go together: give both (the stage's custom domain) or neither."
        )
    return {
        "StageName": stage,
        "GitHubRepository": repository,
        "OidcProviderArn": oidc_provider_arn or "",
        "DomainName": domain_name,
        "HostedZoneId": hosted_zone_id,
    }


def github_subject_step(repository: str) -> str:
    """The one-time GitHub setting the deploy roles' trust relies on: the repository's OIDC subject names the ref
    (`repo:O/R:environment:E:ref:refs/heads/main`), so a role can require both the environment and `main`."""
    return (
        f"Once per repository, make its OIDC subject name the branch (the deploy roles trust only main):\n"
        f"  gh api -X PUT repos/{repository}/actions/oidc/customization/sub "
        f"-F use_default=false -f 'include_claim_keys[]=repo' -f 'include_claim_keys[]=context' "
        f"-f 'include_claim_keys[]=ref'"
    )


def bootstrap_template_body() -> str:
    return dump_template(load_template(BOOTSTRAP_TEMPLATE))


# ---------------------------------------------------------------------------------------------- change sets


def change_set_ids(cloudformation: Any, stack: str) -> set[str]:
    try:
        summaries = cloudformation.list_change_sets(StackName=stack).get("Summaries", [])
    except ClientError as error:
        if "does not exist" in str(error):
            return set()
        raise
    return {summary["ChangeSetId"] for summary in summaries}


def new_change_set(cloudformation: Any, stack: str, before: set[str]) -> str | None:
    """The change set `sam deploy --no-execute-changeset` just created, or None when there was nothing to change."""
    summaries = cloudformation.list_change_sets(StackName=stack).get("Summaries", [])
    fresh = [
        summary
        for summary in summaries
        if summary["ChangeSetId"] not in before and summary.get("ExecutionStatus") == "AVAILABLE"
    ]
    if not fresh:
        return None
    latest = max(fresh, key=lambda summary: summary["CreationTime"])
    change_set: str = latest["ChangeSetId"]
    return change_set


def deploy_stage(
    cloudformation: Any,
    codedeploy: Any,
    stage: str,
    resources: PipelineResources,
    *,
    create_change_set: Callable[[list[str]], None],
    confirm: Callable[[str], bool] | None,
    dry_run: bool,
    progress: Progress = print,
) -> str:
    """Create the change set (`sam deploy --no-execute-changeset`, which prints it), ask when `confirm` is given,
    execute it and follow the stack and its traffic shift. Returns the outcome; raises when it rolled back."""
    name = stack_name(stage)
    before = change_set_ids(cloudformation, name)
    create_change_set(resources.sam_deploy_arguments(stage))
    change_set = new_change_set(cloudformation, name, before)
    if change_set is None:
        progress(f"Nothing to deploy: {name} already matches this commit.")
        return "unchanged"
    if dry_run:
        progress(f"Change set left for review, not executed: {change_set}")
        return "reviewed"
    if confirm is not None and not confirm(f"Execute this change set on {stage.upper()} ({name})?"):
        cloudformation.delete_change_set(ChangeSetName=change_set)
        raise ToolingError("Not deployed; the change set is deleted.")
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    cloudformation.execute_change_set(ChangeSetName=change_set)
    progress(
        f"Deploying {name}; following the stack and its traffic shift (`invoke rollback --stage {stage}` stops it)."
    )
    return follow_stack_update(cloudformation, codedeploy, name, since=since, progress=progress)


# ---------------------------------------------------------------------------------------------- traffic shifting


def _deployment_groups(cloudformation: Any, stack: str) -> tuple[str | None, list[str]]:
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    application = next(
        (r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::CodeDeploy::Application"),
        None,
    )
    groups = sorted(
        r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::CodeDeploy::DeploymentGroup"
    )
    return application, groups


def _deployments(
    codedeploy: Any, application: str, group: str, since: datetime.datetime, statuses: list[str] | None = None
) -> list[str]:
    arguments: dict[str, Any] = {
        "applicationName": application,
        "deploymentGroupName": group,
        "createTimeRange": {"start": since},
    }
    if statuses:
        arguments["includeOnlyStatuses"] = statuses
    ids: list[str] = []
    for page in codedeploy.get_paginator("list_deployments").paginate(**arguments):
        ids += page.get("deployments", [])
    return ids


def describe_shift(codedeploy: Any, deployment_id: str) -> tuple[str, str]:
    """The deployment's status, and one line with it and, per alias, how much traffic the new version has."""
    info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    line = f"{info.get('deploymentGroupName', '?')} {deployment_id}: {info['status']}"
    targets = codedeploy.list_deployment_targets(deploymentId=deployment_id).get("targetIds", [])
    for target_id in targets:
        target = codedeploy.get_deployment_target(deploymentId=deployment_id, targetId=target_id)[
            "deploymentTarget"
        ]
        function = target.get("lambdaTarget", {}).get("lambdaFunctionInfo", {})
        if function:
            weight = float(function.get("targetVersionWeight", 0.0))
            line += (
                f", {weight:.0%} of {function.get('functionName', '?')}:{function.get('functionAlias', '?')}"
                f" on version {function.get('targetVersion', '?')} (was {function.get('currentVersion', '?')})"
            )
    if info["status"] in ("Failed", "Stopped"):
        error = info.get("errorInformation", {})
        line += f" - {error.get('code', '')} {error.get('message', '')}".rstrip()
        if info.get("rollbackInfo", {}).get("rollbackMessage"):
            line += f"; {info['rollbackInfo']['rollbackMessage']}"
    return info["status"], line


def follow_stack_update(
    cloudformation: Any,
    codedeploy: Any,
    stack: str,
    *,
    since: datetime.datetime,
    progress: Progress = print,
    timeout: float = FOLLOW_TIMEOUT,
    interval: float = FOLLOW_INTERVAL,
) -> str:
    """Follow a stack update and its CodeDeploy traffic shifts until the stack settles, printing each change.

    Returns the final stack status when the update succeeded; raises a ToolingError when it rolled back (an alarm
    fired during the canary, a hook failed, a resource failed) or did not finish in time.
    """
    shown: dict[str, str] = {}
    finished: set[str] = set()  # deployments already shown in a final state: not asked about again

    def say_once(key: str, line: str) -> None:
        if shown.get(key) != line:
            shown[key] = line
            progress(line)

    def settled() -> str | None:
        stack_status: str = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        say_once("stack", f"Stack {stack}: {stack_status}")
        application, groups = _deployment_groups(cloudformation, stack)
        for group in groups if application else []:
            for deployment_id in _deployments(codedeploy, str(application), group, since):
                if deployment_id not in finished:
                    status, line = describe_shift(codedeploy, deployment_id)
                    say_once(deployment_id, line)
                    if status in _FINAL:
                        finished.add(deployment_id)
        return None if stack_status.endswith("_IN_PROGRESS") else stack_status

    try:
        status = wait_for(settled, timeout=timeout, interval=interval, what=f"the deploy of {stack}")
    except DeadlineExceeded as error:
        raise ToolingError(
            f"{error} It may still be running: watch it in the CloudFormation console, "
            f"or stop it with `invoke rollback --stage {stack.rsplit('-', 1)[-1]}`."
        ) from None
    if "ROLLBACK" in status or status.endswith("_FAILED"):
        raise ToolingError(
            f"The deploy of {stack} was rolled back ({status}); the aliases serve the previous version. "
            f"The lines above say which alarm or resource stopped it."
        )
    return status


def stop_running_deployments(
    cloudformation: Any, codedeploy: Any, stack: str, *, progress: Progress = print
) -> list[str]:
    """Stop every traffic shift of the stack still running, with rollback; returns the deployments stopped.

    When none runs but the stack is still updating, cancel the update: CloudFormation then rolls it back.
    """
    application, groups = _deployment_groups(cloudformation, stack)
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    stopped = []
    for group in groups if application else []:
        for deployment_id in _deployments(codedeploy, str(application), group, since, _RUNNING):
            codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
            progress(f"Stopped {group} {deployment_id}; CodeDeploy moves its alias back.")
            stopped.append(deployment_id)
    if stopped:
        return stopped
    status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    if status == "UPDATE_IN_PROGRESS":
        cloudformation.cancel_update_stack(StackName=stack)
        progress(
            f"No traffic shift running; cancelled the update of {stack}, which CloudFormation rolls back."
        )
        return []
    raise ToolingError(
        f"Nothing to roll back: no deployment of {stack} is running (stack {status}). To return to an earlier "
        "version, deploy its commit again (re-run the pipeline for it, or `git checkout <commit>` and "
        "`invoke deploy`)."
    )
