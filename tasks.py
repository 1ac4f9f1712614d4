"""Commands for developing, testing and shipping the product-purchase service (`invoke --list`)."""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from devkit.engines import Engine, get_engine
from devkit.project import EMULATORS, LOCAL, ROOT, ToolingError, check_stage, stack_name

PYTEST = [sys.executable, "-m", "pytest"]
# End-to-end tests that `invoke test` runs on an engine of their own, beside the rest of the suite.
E2E_OWN_ENGINE = ("tests/e2e/test_dead_letters.py", "tests/e2e/test_notifications_restart.py")
# `invoke` finds this file from any subfolder; the commands it runs expect the project root.
os.chdir(ROOT)


F = TypeVar("F", bound=Callable[..., Any])


def command(**options: Any) -> Callable[[F], Any]:
    """`@task` whose ToolingError (a failure the user can act on) becomes a clean message and exit code 1."""

    def decorate(function: F) -> Any:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except ToolingError as error:
                raise Exit(f"Error: {error}", code=1) from None

        return task(**options)(run)

    return decorate


def _engine(name: str, port: int = 0) -> Engine:
    return get_engine(name, port=port or None)


def _deployed(target: str, stage: str) -> tuple[Engine, dict[str, Any]]:
    """The engine and the reachable outputs of the stage's stack; a ToolingError says what to do."""
    from devkit.outputs import reachable_outputs

    engine = _engine(target)
    return engine, reachable_outputs(engine, check_stage(stage))


def _say(message: str) -> None:
    print(message, flush=True)


@command(
    help={
        "engine": "ministack (default, no Docker) or localstack (Docker)",
        "fresh": "start from empty state (drops local data)",
        "watch": "stay in the foreground and push handler edits live",
        "port": "port for the engine (default 4566, or the one it last ran on)",
        "stage": "stage to deploy (default dev)",
        "restore": "MiniStack: put back the last good backup of the local state (the current one is moved aside)",
    }
)
def up(
    c: Context,
    engine: str = "ministack",
    fresh: bool = False,
    watch: bool = False,
    port: int = 0,
    stage: str = "dev",
    restore: bool = False,
) -> None:
    """Start the local engine if needed, deploy the stack to it and print the API URL."""
    from devkit.engines.ministack import MiniStack
    from devkit.engines.ministack_state import describe_backup
    from devkit.warm import deploy_and_warm
    from devkit.watch import watch_handlers

    if engine not in EMULATORS:
        raise Exit(f"`invoke up` runs a local engine ({', '.join(EMULATORS)}); for AWS use `invoke deploy`.")
    started = time.monotonic()
    check_stage(stage)
    target = _engine(engine, port)
    _say(f"Starting {engine} ..." if not target.status().running or fresh else f"Reusing running {engine}.")
    if restore:
        if not isinstance(target, MiniStack):
            raise Exit("--restore applies to MiniStack's local state only.", code=1)
        target.start(fresh=fresh, restore=True)
        if target.restored:
            backup, aside = target.restored
            _say(
                f"Restored the state backed up {describe_backup(backup)}"
                + (f"; the replaced state is in {aside}." if aside else ".")
            )
    else:
        target.start(fresh=fresh)
    result, values, warmed = deploy_and_warm(target, stage, progress=_say)
    api = values["ProductPurchaseApi"]
    _say("Functions warm: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in warmed.items()) + ".")
    _say(f"Stack {result.stack_name} {result.action} on {engine} in {time.monotonic() - started:.1f} s.")
    options = "".join(
        f" --{name} {value}"
        for name, value, default in (("target", engine, "ministack"), ("stage", stage, "dev"))
        if value != default
    )
    _say(
        f"\nAPI: {api}\nEvery request needs a bearer token (client credentials; valid "
        f"{values.get('AccessTokenMinutes', '60')} min):\n"
        f"  TOKEN=$(uv run invoke token{options})\n"
        f'  curl -s {api} -H "Authorization: Bearer $TOKEN"\n'
        "  uv run invoke seed   # sends the sample purchases"
    )
    if watch:
        try:
            watch_handlers(target, result.stack_name, progress=_say)
        except KeyboardInterrupt:
            _say("\nStopped watching; the engine keeps running (`invoke down` stops it).")


@command(
    help={
        "engine": "ministack or localstack",
        "purge": "also delete the engine's saved state",
        "force": "MiniStack: kill it if it does not stop in time (changes since its last save are lost)",
    }
)
def down(c: Context, engine: str = "ministack", purge: bool = False, force: bool = False) -> None:
    """Stop the local engine (state is kept unless --purge)."""
    from devkit.engines.ministack import MiniStack

    target = _engine(engine)
    was_running = target.status().running
    if isinstance(target, MiniStack):
        target.stop(purge=purge, force=force)
    else:
        target.stop(purge=purge)
    state = "stopped" if was_running else "was not running"
    _say(f"{engine} {state}{'; its state is deleted' if purge else ''}.")


@command(help={"engine": "ministack, localstack or aws"})
def status(c: Context, engine: str = "ministack") -> None:
    """Show whether the engine runs and which stacks it holds."""
    target = _engine(engine)
    state = target.status()
    _say(f"{state.engine}: {'running' if state.running else 'stopped'} - {state.detail}")
    if state.running:
        cloudformation = target.client("cloudformation")
        for stack in cloudformation.describe_stacks().get("Stacks", []):
            _say(f"  stack {stack['StackName']}: {stack['StackStatus']}")


@command(
    help={
        "engine": "ministack, localstack or aws",
        "follow": "keep printing new lines",
        "function": "sender, reader or writer: that function's logs instead of the engine's",
        "stage": "stage whose functions to read (default dev)",
    }
)
def logs(
    c: Context, engine: str = "ministack", follow: bool = False, function: str = "", stage: str = "dev"
) -> None:
    """Print the engine's log, or one function's log lines."""
    from devkit.deploy import stack_functions
    from devkit.function_logs import log_lines

    target = _engine(engine)
    if not function:
        log_file = target.log_file()
        if engine == "localstack":
            c.run(f"docker compose logs {'--follow ' if follow else ''}localstack", pty=False)
        elif log_file is None or not log_file.exists():
            raise Exit(f"No engine log for {engine}; use --function sender|reader|writer.")
        else:
            c.run(f"tail -n 200 {'-f ' if follow else ''}{shlex.quote(str(log_file))}", pty=False)
        return
    functions = stack_functions(target, stack_name(check_stage(stage)))
    logical = f"{function.capitalize()}Function"
    if logical not in functions:
        raise Exit(f"Unknown function {function!r}: choose sender, reader or writer.")
    try:
        for line in log_lines(target, functions[logical], follow=follow):
            _say(line)
    except KeyboardInterrupt:
        pass


@command(
    help={
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev)",
        "json": "print JSON",
    }
)
def outputs(c: Context, target: str = "ministack", stage: str = "dev", json_: bool = False) -> None:
    """Print the stack outputs, with URLs reachable from this host."""
    _, values = _deployed(target, stage)
    if json_:
        _say(json.dumps(values, indent=2, sort_keys=True))
    else:
        width = max(map(len, values))
        for key, value in sorted(values.items()):
            _say(f"{key:<{width}}  {value}")


@command(help={"target": "ministack (default), localstack or aws", "stage": "stage (default dev)"})
def seed(c: Context, target: str = "ministack", stage: str = "dev") -> None:
    """Send the sample purchases through the API and print their ids once readable."""
    from devkit.auth import authorization_header
    from seed.send import send_samples

    engine, values = _deployed(target, stage)
    api = values["ProductPurchaseApi"]
    ids = send_samples(api, headers=authorization_header(engine, values))
    for purchase_id in ids:
        _say(f"{api}{purchase_id}")


@command(
    help={
        "scopes": "comma-separated scopes (default: purchases/read,purchases/write)",
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev; prod has no development client)",
    }
)
def token(c: Context, scopes: str = "", target: str = "ministack", stage: str = "dev") -> None:
    """Print a bearer access token for the stage's development client (one line, nothing else on stdout)."""
    from devkit.auth import access_token, parse_scopes

    engine, values = _deployed(target, stage)
    print(access_token(engine, values, parse_scopes(scopes)))


@command(
    help={
        "name": "the calling service, e.g. order-service (creates app client consumer-<name>)",
        "scopes": "comma-separated scopes for a new consumer (default: both)",
        "remove": "client id of a consumer to remove (its secret stops working at once)",
        "show_secret": "print the new client's secret (otherwise: read it with DescribeUserPoolClient)",
        "target": "aws (default), ministack or localstack",
        "stage": "stage",
    }
)
def consumer(
    c: Context,
    name: str = "",
    scopes: str = "",
    remove: str = "",
    show_secret: bool = False,
    target: str = "aws",
    stage: str = "dev",
) -> None:
    """Give a calling service its own OAuth client (--name), remove one (--remove), or list them (neither)."""
    from devkit import consumers
    from devkit.auth import client_secret, parse_scopes

    engine, values = _deployed(target, stage)
    if name and remove:
        raise Exit("Pass --name to create a consumer or --remove to delete one, not both.")
    if remove:
        consumers.remove_consumer(engine, values, remove)
        _say(f"Removed app client {remove}.")
        return
    if not name:
        listed = consumers.list_consumers(engine, values)
        for item in listed:
            _say(f"{item.name:<24} {item.client_id}  {' '.join(item.scopes)}")
        _say(f"{len(listed)} consumer(s) on {stack_name(stage)} ({target}).")
        return
    created = consumers.create_consumer(engine, values, name, parse_scopes(scopes))
    _say(f"Consumer {created.name}: client id {created.client_id}, scopes {' '.join(created.scopes)}")
    _say(f"Token endpoint: {values['TokenUrl']} (grant_type=client_credentials, HTTP Basic client auth)")
    if show_secret:
        _say(f"Client secret: {client_secret(engine, values['UserPoolId'], created.client_id)}")
    else:
        _say(
            "Secret not shown: hand it over with --show-secret, or read it with cognito-idp describe-user-pool-client."
        )


@command(
    help={
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev)",
        "redrive": "move the messages back to the queue",
    }
)
def dlq(c: Context, target: str = "ministack", stage: str = "dev", redrive: bool = False) -> None:
    """List the dead-letter queue's messages, or move them back to the queue."""
    from devkit import dlq as dead_letters

    engine, values = _deployed(target, stage)
    if redrive:
        moved = dead_letters.redrive(engine, values["DeadLetterQueueUrl"], values["QueueUrl"], progress=_say)
        _say(f"Moved {moved} message(s) back to the queue.")
        return
    messages = dead_letters.peek(engine, values["DeadLetterQueueUrl"])
    for message in messages:
        sent = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(message.sent_at_ms / 1000))
        _say(f"{message.message_id}  received {message.receive_count}x  sent {sent}  {message.body[:200]}")
    _say(
        f"{len(messages)} message(s) in the DLQ."
        + (" Fix the cause, then `invoke dlq --redrive`." if messages else "")
    )


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
    engine = _engine(target)
    if target == "aws":
        _deploy_to_aws(engine, stage, dry_run=dry_run, yes=yes)
        return
    engine.start()
    sam.build()
    # On an emulator, the same `sam deploy` as on AWS, plus the engine's local-stage parameters.
    overrides = {"StageName": stage, **local_stage_parameters(engine, stage)}
    sam.deploy(
        stage, dry_run=dry_run, assume_yes=yes, parameters=overrides, endpoint_url=engine.endpoint_url()
    )
    if not dry_run:
        engine.after_deploy(stack_name(stage))
        _say(f"Deployed {stack_name(stage)} to {target}: `invoke outputs --target {target} --stage {stage}`.")


def _deploy_to_aws(engine: Engine, stage: str, *, dry_run: bool, yes: bool) -> None:
    """The change set `sam deploy` prints, a yes for prod, then executed and followed through CodeDeploy."""
    from devkit import delivery, sam

    engine.start()
    cloudformation = engine.client("cloudformation")
    resources = delivery.pipeline_resources(cloudformation, stage)  # before the build: fail fast
    sam.build()
    outcome = delivery.deploy_stage(
        cloudformation,
        engine.client("codedeploy"),
        stage,
        resources,
        create_change_set=lambda extra: sam.deploy(stage, dry_run=True, assume_yes=True, extra=extra),
        confirm=None if stage != "prod" or yes else _confirmed,
        dry_run=dry_run,
        progress=_say,
    )
    if outcome not in ("unchanged", "reviewed"):
        _say(f"Deployed {stack_name(stage)} ({outcome}): `invoke outputs --target aws --stage {stage}`.")


@command(help={"stage": "dev, qa, staging or prod", "target": "aws (default)"})
def rollback(c: Context, stage: str, target: str = "aws") -> None:
    """Stop a stage's running deploy: CodeDeploy moves the aliases back and CloudFormation rolls the stack back."""
    from devkit import delivery

    engine = _engine(target)
    name = stack_name(check_stage(stage))
    engine.start()
    delivery.stop_running_deployments(
        engine.client("cloudformation"), engine.client("codedeploy"), name, progress=_say
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
    stage: str,
    repository: str,
    target: str = "aws",
    domain_name: str = "",
    hosted_zone_id: str = "",
) -> None:
    """Once per stage and account: GitHub OIDC deploy role, artifacts bucket and CloudFormation execution role."""
    from devkit import delivery
    from devkit.deploy import apply_template

    check_stage(stage)
    engine = _engine(target)
    engine.start()
    iam = engine.client("iam")
    provider = delivery.github_oidc_provider(iam)
    if provider is None and target in EMULATORS:
        # The emulators' CloudFormation has no AWS::IAM::OIDCProvider; their IAM API creates one.
        provider = iam.create_open_id_connect_provider(
            Url=f"https://{delivery.GITHUB_OIDC_HOST}", ClientIDList=["sts.amazonaws.com"]
        )["OpenIDConnectProviderArn"]
        _say(f"Created the GitHub OIDC provider through {target}'s IAM API (its CloudFormation cannot).")
    elif provider:
        _say(f"Reusing the account's GitHub OIDC provider {provider}.")
    name = delivery.bootstrap_stack_name(stage)
    action = apply_template(
        engine,
        name,
        delivery.bootstrap_template_body(),
        delivery.bootstrap_parameters(
            stage, repository, provider, domain_name=domain_name, hosted_zone_id=hosted_zone_id
        ),
        progress=_say,
    )
    resources = delivery.pipeline_resources(engine.client("cloudformation"), stage)
    _say(
        f"Bootstrap {name} {action} on {target}.\n"
        f"  deploy role       {resources.deploy_role_arn}\n"
        f"  artifacts bucket  {resources.artifacts_bucket}\n"
        f"  execution role    {resources.execution_role_arn}\n"
        f"In GitHub, give environment {stage!r} the variable AWS_DEPLOY_ROLE_ARN={resources.deploy_role_arn}"
        + (" and required reviewers." if stage == "prod" else ".")
        + "\n"
        + delivery.github_subject_step(repository)
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
    if not yes and not _confirmed(f"Delete stack {name} on {target}?"):
        raise Exit("Nothing deleted.", code=1)
    if target == "aws":
        sam.delete(name)
    else:
        _say(f"Deleted {name}." if delete_stack(_engine(target), name) else f"No stack {name} on {target}.")


def _confirmed(question: str) -> bool:
    if not sys.stdin.isatty():
        raise Exit(f"{question} Needs confirmation, and there is no terminal to ask: pass --yes.", code=1)
    return input(f"{question} Type 'yes' to continue: ").strip() == "yes"


@command(
    help={
        "out": "file to write (default openapi.json; - for stdout)",
        "target": "engine whose running stack's URL goes into `servers` (default ministack; none if not deployed)",
        "stage": "stage (default dev)",
    }
)
def openapi(c: Context, out: str = "openapi.json", target: str = "ministack", stage: str = "dev") -> None:
    """Write the API's OpenAPI description, generated from the purchase schema."""
    from devkit.openapi import openapi_document, stage_url
    from devkit.outputs import reachable_outputs

    try:
        values = reachable_outputs(_engine(target), check_stage(stage))
        server: str | None = stage_url(values["ProductPurchaseApi"])
        token_url: str | None = values.get("TokenUrl")
    except ToolingError:
        server = token_url = None
    document = json.dumps(openapi_document(server, token_url=token_url), indent=2)
    if out == "-":
        _say(document)
        return
    Path(out).write_text(document + "\n")
    _say(f"Wrote {out}" + (f" (server {server})." if server else " (no running stack: no `servers` entry)."))


@command()
def lint(c: Context) -> None:
    """Check code, types, both templates (cfn-lint, SAM translator, checkov) and the workflows (actionlint)."""
    from devkit import static_checks

    started = time.monotonic()
    c.run("ruff check .", echo=True)
    c.run("ruff format --check .", echo=True)
    c.run("mypy", echo=True)
    templates = [str(path.relative_to(ROOT)) for path in static_checks.TEMPLATES]
    c.run(shlex.join(["cfn-lint", *templates]), echo=True)
    for path in static_checks.TEMPLATES:
        static_checks.translate(path)
    _say(f"SAM translator: {', '.join(templates)} translate.")
    c.run(shlex.join(static_checks.checkov_command()), echo=True, pty=False)
    static_checks.lint_workflows(progress=_say)
    _say(f"Lint passed in {time.monotonic() - started:.0f} s.")


@command()
def unit(c: Context) -> None:
    """Run the unit tests (no network)."""
    c.run(shlex.join([*PYTEST, "tests/unit", "-q"]), echo=True, pty=False)


@command(
    help={
        "target": "ministack (default), localstack or aws",
        "stage": "stage to test (default dev)",
        "outputs_file": "a saved `invoke outputs --json` to test against instead of asking the engine",
    }
)
def e2e(c: Context, target: str = "ministack", stage: str = "dev", outputs_file: str = "") -> None:
    """Run the end-to-end suite against a deployed stack."""
    _run_e2e(c, outputs_file or _saved_outputs(target, stage))


def _run_e2e(c: Context, outputs_file: str, *options: str) -> None:
    c.run(
        shlex.join([*PYTEST, "tests/e2e", "-q", *options]),
        echo=True,
        pty=False,
        env={"E2E_OUTPUTS": outputs_file},
    )


def _saved_outputs(target: str, stage: str) -> str:
    """The stage's reachable outputs, saved where the test runs read them (E2E_OUTPUTS)."""
    _, values = _deployed(target, stage)
    path = LOCAL / f"outputs-{target}-{stage}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(values, indent=2))
    return str(path)


@command(
    help={
        "target": "ministack (default), localstack or aws",
        "stage": "stage to test (default dev)",
        "outputs_file": "a saved `invoke outputs --json` to test against instead of asking the engine",
    }
)
def browser(c: Context, target: str = "ministack", stage: str = "dev", outputs_file: str = "") -> None:
    """Run the console's browser tests in Chromium (skipped, saying so, when no Chromium is installed)."""
    from devkit.browser import find_chromium

    chromium = find_chromium()
    if chromium is None:
        _say(
            "SKIPPED the browser tests: no Chromium found. Install one (`apt-get install chromium`) or set "
            "CHROMIUM_PATH; CI (.ci/run) always installs it."
        )
        return
    outputs_file = outputs_file or _saved_outputs(target, stage)
    _say(f"Browser tests in {chromium} (screenshots in {LOCAL / 'artifacts'}):")
    env = {"E2E_OUTPUTS": outputs_file}
    c.run(shlex.join([*PYTEST, "tests/browser", "-q"]), echo=True, pty=False, env=env)


@command()
def test(c: Context) -> None:
    """Lint, unit tests, local-data fault tests, the end-to-end suite and the browser tests on private MiniStacks."""
    import subprocess

    from devkit.engines.ministack import MiniStack, free_port
    from devkit.warm import deploy_and_warm

    started = time.monotonic()
    lint(c)
    # The unit tests and the local-data fault tests (each on its own private MiniStack) run in the background
    # while the end-to-end engines start and the suite runs: most of their time is spent waiting on engines.
    background = {
        "unit tests": [*PYTEST, "tests/unit", "-q", "-p", "no:cacheprovider"],
        "local-data fault tests": [*PYTEST, "tests/engine", "-q", "-p", "no:cacheprovider"],
    }
    jobs = {}

    def in_background(name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        _say(f"In the background ({name}): {shlex.join(command)}")
        jobs[name] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )

    for name, command in background.items():
        in_background(name, command)
    # Private engines, each with its own port and folder: a running `invoke up` engine, or another `invoke test`,
    # is left alone. The slowest end-to-end tests mostly wait (three visibility timeouts, an engine restart), so
    # they get an engine of their own and run beside the rest of the suite.
    engines: list[MiniStack] = []

    def private_engine(label: str) -> str:
        engine = MiniStack(port=free_port(), state_dir=LOCAL / f"test-engine-{os.getpid()}-{label}")
        shutil.rmtree(engine.state_dir, ignore_errors=True)
        engine.state_dir.mkdir(parents=True)
        engines.append(engine)
        _say(f"Starting a private MiniStack on port {engine.port} for the {label} tests ...")
        engine.start()
        values = deploy_and_warm(engine, "dev", progress=_say)[1]
        path = engine.state_dir / "outputs.json"
        # The restart test stops and starts its engine, so it must know the engine's own folder.
        path.write_text(json.dumps({**values, "EngineStateDir": str(engine.state_dir)}, indent=2))
        return str(path)

    try:
        outputs_file = private_engine("end-to-end")
        slow_outputs_file = private_engine("slow end-to-end")
        slow = [*PYTEST, *E2E_OWN_ENGINE, "-q", "-p", "no:cacheprovider"]
        in_background("slow end-to-end tests", slow, {**os.environ, "E2E_OUTPUTS": slow_outputs_file})
        background["slow end-to-end tests"] = slow
        _run_e2e(c, outputs_file, *(f"--ignore={path}" for path in E2E_OWN_ENGINE))
        browser(c, outputs_file=outputs_file)
    finally:
        for engine in engines:
            engine.stop(purge=True)
            shutil.rmtree(engine.state_dir, ignore_errors=True)
        for name, job in jobs.items():
            output, _ = job.communicate()
            _say(f"\n{name}: {shlex.join(background[name])}\n{output.rstrip()}")
    failed = [name for name, job in jobs.items() if job.returncode != 0]
    if failed:
        raise Exit(f"Failed: {', '.join(failed)} (see above).", code=1)
    _say(f"All checks passed in {time.monotonic() - started:.0f} s.")


@command(
    help={
        "requests": "writes to send (default 2000; with --soak, accepted writes wanted, default 10000)",
        "concurrency": "client threads, each on its own keep-alive connection (default 16)",
        "json": "where to write the JSON report (default bench/results/<bench|soak>-<time>.json)",
        "soak": "inject writer faults and check that no accepted write is lost or applied twice",
        "target": "ministack (default), localstack or aws (the soak runs on the local engines only)",
        "stage": "stage to load (default dev; the soak refuses prod)",
        "keep": "keep the run's purchases in the table (they are deleted afterwards otherwise)",
        "rate": "pace the writes at this many per second in total (default: as fast as the API answers)",
        "baseline": "also deploy the template with bare handlers and load both, alternating (our share of the "
        "engine's ceiling)",
        "first_write": "restart the engine (down + up) and time the first write against warm ones",
        "lag_sample": "share of accepted writes, drawn at random, whose lag is polled (default 0.05; 1 = all)",
    }
)
def bench(
    c: Context,
    requests: int = 0,
    concurrency: int = 16,
    json_: str = "",
    soak: bool = False,
    target: str = "ministack",
    stage: str = "dev",
    keep: bool = False,
    rate: float = 0.0,
    baseline: bool = False,
    first_write: bool = False,
    lag_sample: float = 0.05,
) -> None:
    """Load the running stack: latency, throughput, lag, lost writes, engine memory and SendMessage floor."""
    from pathlib import Path

    from devkit import bench as benchmark

    command = shlex.join(["invoke", *sys.argv[1:]])
    if requests < 0 or concurrency < 1 or rate < 0 or not 0 < lag_sample <= 1:
        raise Exit("--requests and --rate must be >= 0, --concurrency >= 1, --lag-sample in (0, 1].")
    engine = _engine(target)
    check_stage(stage)
    if soak:
        report = benchmark.run_soak(
            engine,
            stage,
            writes=requests or benchmark.DEFAULT_SOAK_WRITES,
            concurrency=concurrency,
            keep_data=keep,
            command=command,
            progress=_say,
        )
    else:
        settings = benchmark.BenchSettings(
            requests=requests or benchmark.DEFAULT_REQUESTS,
            concurrency=concurrency,
            keep_data=keep,
            rate=rate,
            baseline=baseline,
            first_write=first_write,
            lag_sample=lag_sample,
        )
        report = benchmark.run_benchmark(engine, stage, settings, command=command, progress=_say)
    path = benchmark.save_json(report, Path(json_) if json_ else benchmark.default_json_path(report.kind))
    _say(f"\n{benchmark.format_report(report)}\n\nJSON: {path}")
    if not report.passed:
        raise Exit("Some accepted writes were lost or applied twice (see above).", code=1)


@command(
    help={
        "tombstones": "tombstones to add for the second phase (default 10000; removed afterwards)",
        "requests": "list requests per phase (default 300)",
        "limit": "page size (default 50)",
        "target": "ministack (default), localstack or aws",
        "stage": "stage to measure (default dev; never prod, which it would fill with tombstones)",
    }
)
def bench_list(
    c: Context,
    tombstones: int = 10_000,
    requests: int = 300,
    limit: int = 50,
    target: str = "ministack",
    stage: str = "dev",
) -> None:
    """List latency p50/p95 on the table as it is, then with thousands of tombstones added."""
    from devkit.bench.listing import run_list_bench

    if tombstones < 1 or requests < 1 or not 1 <= limit <= 100:
        raise Exit("--tombstones and --requests must be >= 1, --limit 1..100.")
    if check_stage(stage) == "prod":
        raise Exit("bench-list writes tombstones into the table: not on prod.")
    report = run_list_bench(
        _engine(target), stage, tombstones=tombstones, requests=requests, limit=limit, progress=_say
    )
    _say(f"\n{report.format()}")


@command(
    help={
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev)",
        "bench": "instead: time N writes from 202 to notification received (p50/p95, warm)",
    }
)
def notifications(c: Context, target: str = "ministack", stage: str = "dev", bench: int = 0) -> None:
    """Print purchase notifications (created / updated / deleted) as they are pushed, until Ctrl-C."""
    from devkit.notifications import watch

    engine, values = _deployed(target, stage)
    if bench:
        from devkit.bench.notifications import format_bench, measure

        _say(format_bench(measure(engine, values, bench, progress=_say)))
        return
    try:
        watch(engine, values, show=_say)
    except KeyboardInterrupt:
        _say("\nStopped.")


@command(
    help={
        "port": "port on 127.0.0.1 (default 0: a free one)",
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev)",
        "open": "also open the console in your browser",
    }
)
def console(
    c: Context, port: int = 0, target: str = "ministack", stage: str = "dev", open: bool = False
) -> None:
    """Serve the web console (purchases, live changes, queue, dead letters) on 127.0.0.1 until Ctrl-C."""
    import webbrowser

    from devkit.auth import ALL_SCOPES, access_token
    from devkit.console.server import ConsoleServer, ConsoleTarget

    engine, values = _deployed(target, stage)
    access_token(engine, values, ALL_SCOPES)  # fail now, with what to do, rather than in the browser
    server = ConsoleServer(ConsoleTarget(engine, values), port)
    _say(f"Console: {server.url}  ({target}, stage {stage}; Ctrl-C to stop)")
    if open:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        _say("\nConsole stopped.")
