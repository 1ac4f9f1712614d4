"""Ship a stage: build and deploy it, roll a deploy back, bootstrap its pipeline, delete its stack."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit

from devkit import ui
from devkit.commands import command, confirmed, engine_named, say
from devkit.engines import Engine
from devkit.project import EMULATORS, check_stage, stack_name


@command(
    help={
        "stage": "dev, qa, staging or prod",
        "target": "aws (default), or an emulator: ministack / localstack",
        "dry_run": "create and show the change set without executing it (AWS)",
        "yes": "do not ask for confirmation (prod asks otherwise)",
    }
)
def deploy(c: Context, stage: str, target: str = "aws", dry_run: bool = False, yes: bool = False) -> None:
    """Build and deploy the stack to a stage with `sam build` + `sam deploy` (to AWS, or to an emulator)."""
    from devkit import sam
    from devkit.deploy import local_stage_parameters

    check_stage(stage)
    engine = engine_named(target)
    if target == "aws":
        _deploy_to_aws(engine, stage, dry_run=dry_run, yes=yes)
        return
    engine.start()
    with ui.phase("Building with sam build"):
        sam.build()
    # On an emulator, the same `sam deploy` as on AWS, plus the engine's local-stage parameters.
    overrides = {"StageName": stage, **local_stage_parameters(engine, stage)}
    sam.deploy(
        stage, dry_run=dry_run, assume_yes=yes, parameters=overrides, endpoint_url=engine.endpoint_url()
    )
    if not dry_run:
        engine.after_deploy(stack_name(stage))
        say(f"Deployed {stack_name(stage)} to {target}: `invoke outputs --target {target} --stage {stage}`.")


def _deploy_to_aws(engine: Engine, stage: str, *, dry_run: bool, yes: bool) -> None:
    """The change set `sam deploy` prints, a yes for prod, then executed and followed through CodeDeploy."""
    from devkit import delivery, sam

    engine.start()
    cloudformation = engine.client("cloudformation")
    resources = delivery.pipeline_resources(cloudformation, stage)  # before the build: fail fast
    with ui.phase("Building with sam build"):
        sam.build()
    outcome = delivery.deploy_stage(
        cloudformation,
        engine.client("codedeploy"),
        stage,
        resources,
        create_change_set=lambda extra: sam.deploy(stage, dry_run=True, assume_yes=True, extra=extra),
        confirm=None if stage != "prod" or yes else confirmed,
        dry_run=dry_run,
        progress=say,
    )
    if outcome not in ("unchanged", "reviewed"):
        say(f"Deployed {stack_name(stage)} ({outcome}): `invoke outputs --target aws --stage {stage}`.")


@command(help={"stage": "dev, qa, staging or prod", "target": "aws (default)"})
def rollback(c: Context, stage: str, target: str = "aws") -> None:
    """Stop a stage's running deploy: CodeDeploy moves the aliases back and CloudFormation rolls the stack back."""
    from devkit import delivery

    engine = engine_named(target)
    name = stack_name(check_stage(stage))
    engine.start()
    delivery.stop_running_deployments(
        engine.client("cloudformation"), engine.client("codedeploy"), name, progress=say
    )


@command(
    help={
        "stage": "dev, qa, staging or prod: the stage whose deploy role and bucket to create",
        "repository": "the GitHub repository (OWNER/REPO) whose workflows may deploy the stage",
        "target": "aws (default), or an emulator to rehearse on: ministack / localstack",
    }
)
def bootstrap(c: Context, stage: str, repository: str, target: str = "aws") -> None:
    """Once per stage and account: GitHub OIDC deploy role, artifacts bucket and CloudFormation execution role."""
    from devkit import delivery
    from devkit.deploy import apply_template

    check_stage(stage)
    engine = engine_named(target)
    engine.start()
    iam = engine.client("iam")
    provider = delivery.github_oidc_provider(iam)
    if provider is None and target in EMULATORS:
        # The emulators' CloudFormation has no AWS::IAM::OIDCProvider; their IAM API creates one.
        provider = iam.create_open_id_connect_provider(
            Url=f"https://{delivery.GITHUB_OIDC_HOST}", ClientIDList=["sts.amazonaws.com"]
        )["OpenIDConnectProviderArn"]
        say(f"Created the GitHub OIDC provider through {target}'s IAM API (its CloudFormation cannot).")
    elif provider:
        say(f"Reusing the account's GitHub OIDC provider {provider}.")
    name = delivery.bootstrap_stack_name(stage)
    action = apply_template(
        engine,
        name,
        delivery.bootstrap_template_body(),
        delivery.bootstrap_parameters(stage, repository, provider),
        progress=say,
    )
    resources = delivery.pipeline_resources(engine.client("cloudformation"), stage)
    say(
        f"Bootstrap {name} {action} on {target}.\n"
        f"  deploy role       {resources.deploy_role_arn}\n"
        f"  artifacts bucket  {resources.artifacts_bucket}\n"
        f"  execution role    {resources.execution_role_arn}\n"
        f"In GitHub, give environment {stage!r} the variable AWS_DEPLOY_ROLE_ARN={resources.deploy_role_arn}"
        + (" and required reviewers." if stage == "prod" else ".")
    )


@command(
    help={
        "stage": "dev, qa, staging or prod",
        "target": "aws (default), ministack or localstack",
        "yes": "no prompt",
    }
)
def destroy(c: Context, stage: str, target: str = "aws", yes: bool = False) -> None:
    """Delete a stage's stack; its table is retained (delete it by hand to drop the data)."""
    from devkit import sam
    from devkit.deploy import delete_stack

    name = stack_name(check_stage(stage))
    if not yes and not confirmed(f"Delete stack {name} on {target}?"):
        raise Exit("Nothing deleted.", code=1)
    if target == "aws":
        sam.delete(name)
    else:
        say(
            f"Deleted {name}."
            if delete_stack(engine_named(target), name)
            else f"No stack {name} on {target}."
        )
