"""Ship a stage: build and deploy it, roll a deploy back, bootstrap its pipeline, delete its stack."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit

from devkit.commands import command, confirmed, engine_named, say
from devkit.core.project import check_stage, stack_name


@command(
    help={
        "target": "aws (default), or an emulator: ministack / localstack",
        "dry_run": "create and show the change set without executing it (AWS)",
        "yes": "do not ask for confirmation (prod asks otherwise)",
    }
)
def deploy(
    c: Context, stage: str = "", target: str = "aws", dry_run: bool = False, yes: bool = False
) -> None:
    """Build and deploy the stack to a stage with `sam build` + `sam deploy` (to AWS, or to an emulator)."""
    from devkit.delivery.release import ship

    outcome = ship(
        engine_named(target),
        check_stage(stage),
        dry_run=dry_run,
        confirm=None if yes else confirmed,
        progress=say,
    )
    if outcome not in ("unchanged", "reviewed"):
        say(f"Deployed {stack_name(stage)} ({outcome}): `invoke outputs --target {target} --stage {stage}`.")


@command()
def rollback(c: Context, stage: str = "", target: str = "aws") -> None:
    """Stop a stage's running deploy: CodeDeploy moves the aliases back and CloudFormation rolls the stack back."""
    from devkit.delivery import aws as delivery

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
        "domain_name": "the stage's custom domain (its certificate and DNS record), if it has one",
        "hosted_zone_id": "the Route 53 hosted zone of --domain-name",
    }
)
def bootstrap(
    c: Context,
    stage: str = "",
    repository: str = "",
    target: str = "aws",
    domain_name: str = "",
    hosted_zone_id: str = "",
) -> None:
    """Once per stage and account: GitHub OIDC deploy role, artifacts bucket and CloudFormation execution role."""
    from devkit.delivery.aws import github_subject_step
    from devkit.delivery.release import bootstrap_stage

    done = bootstrap_stage(
        engine_named(target),
        check_stage(stage),
        repository,
        domain_name=domain_name,
        hosted_zone_id=hosted_zone_id,
        progress=say,
    )
    say(
        f"Bootstrap {done.stack_name} {done.action} on {target}.\n"
        f"  deploy role       {done.resources.deploy_role_arn}\n"
        f"  artifacts bucket  {done.resources.artifacts_bucket}\n"
        f"  execution role    {done.resources.execution_role_arn}\n"
        f"In GitHub, give environment {stage!r} the variable AWS_DEPLOY_ROLE_ARN={done.resources.deploy_role_arn}"
        + (" and required reviewers." if stage == "prod" else ".")
        + "\n"
        + github_subject_step(repository)
    )


@command(
    help={
        "yes": "no prompt",
    }
)
def destroy(c: Context, stage: str = "", target: str = "aws", yes: bool = False) -> None:
    """Delete a stage's stack; its table is retained (delete it by hand to drop the data)."""
    from devkit.delivery import sam
    from devkit.delivery.deploy import delete_stack

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
