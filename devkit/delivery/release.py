"""What `invoke deploy` and `invoke bootstrap` do: a stage shipped with `sam deploy` (to AWS through a reviewed
change set and CodeDeploy, or to an emulator), and a stage's one-time bootstrap stack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from devkit.core import ui
from devkit.core.project import EMULATORS, check_stage, stack_name
from devkit.delivery import aws as delivery
from devkit.delivery import sam
from devkit.delivery.deploy import apply_template, local_stage_parameters
from devkit.engines import Engine

Progress = Callable[[str], None]


def ship(
    engine: Engine,
    stage: str,
    *,
    dry_run: bool,
    confirm: Callable[[str], bool] | None,
    progress: Progress,
) -> str:
    """Build and deploy the stage with `sam deploy`; `confirm` (None: no question) approves prod's change set on
    AWS. Returns what happened: 'deployed', 'unchanged', 'reviewed' (dry run) or CodeDeploy's outcome."""
    check_stage(stage)
    engine.start()
    # On AWS, before the build, so that a stage with no bootstrap fails fast.
    aws = engine.name == "aws"
    resources = delivery.pipeline_resources(engine.client("cloudformation"), stage) if aws else None
    with ui.phase("Building with sam build"):
        sam.build()
    if resources is not None:
        return delivery.deploy_stage(
            engine.client("cloudformation"),
            engine.client("codedeploy"),
            stage,
            resources,
            create_change_set=lambda extra: sam.deploy(stage, dry_run=True, assume_yes=True, extra=extra),
            confirm=confirm if stage == "prod" else None,
            dry_run=dry_run,
            progress=progress,
        )
    # On an emulator, the same `sam deploy` as on AWS, plus the engine's local-stage parameters.
    overrides = {"StageName": stage, **local_stage_parameters(engine, stage)}
    sam.deploy(
        stage,
        dry_run=dry_run,
        assume_yes=confirm is None,
        parameters=overrides,
        endpoint_url=engine.endpoint_url(),
    )
    if dry_run:
        return "reviewed"
    engine.after_deploy(stack_name(stage))
    return "deployed"


@dataclass(frozen=True)
class Bootstrapped:
    stack_name: str
    action: str
    resources: delivery.PipelineResources


def bootstrap_stage(
    engine: Engine,
    stage: str,
    repository: str,
    *,
    domain_name: str = "",
    hosted_zone_id: str = "",
    progress: Progress,
) -> Bootstrapped:
    """The stage's deploy role, artifacts bucket and execution role, trusting `repository`'s GitHub workflows."""
    check_stage(stage)
    domain = {"domain_name": domain_name, "hosted_zone_id": hosted_zone_id}
    delivery.bootstrap_parameters(
        stage, repository, None, **domain
    )  # refuse a bad repository before changing anything
    engine.start()
    iam = engine.client("iam")
    provider = delivery.github_oidc_provider(iam)
    if provider is None and engine.name in EMULATORS:
        # The emulators' CloudFormation has no AWS::IAM::OIDCProvider; their IAM API creates one.
        provider = iam.create_open_id_connect_provider(
            Url=f"https://{delivery.GITHUB_OIDC_HOST}", ClientIDList=["sts.amazonaws.com"]
        )["OpenIDConnectProviderArn"]
        progress(
            f"Created the GitHub OIDC provider through {engine.name}'s IAM API (its CloudFormation cannot)."
        )
    elif provider:
        progress(f"Reusing the account's GitHub OIDC provider {provider}.")
    name = delivery.bootstrap_stack_name(stage)
    action = apply_template(
        engine,
        name,
        delivery.bootstrap_template_body(),
        delivery.bootstrap_parameters(stage, repository, provider, **domain),
        progress=progress,
    )
    return Bootstrapped(name, action, delivery.pipeline_resources(engine.client("cloudformation"), stage))
