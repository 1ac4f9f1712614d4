"""Check the project: lint, unit tests, end-to-end and browser tests, and all of them together (`test`)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time

from invoke.context import Context
from invoke.exceptions import Exit

from devkit.commands import command, deployed, say
from devkit.project import LOCAL, ROOT

PYTEST = [sys.executable, "-m", "pytest"]
# End-to-end tests that `invoke test` runs on an engine of their own, beside the rest of the suite.
E2E_OWN_ENGINE = ("tests/e2e/test_dead_letters.py", "tests/e2e/test_notifications_restart.py")


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
    say(f"SAM translator: {', '.join(templates)} translate.")
    c.run(shlex.join(static_checks.checkov_command()), echo=True, pty=False)
    static_checks.lint_workflows(progress=say)
    say(f"Lint passed in {time.monotonic() - started:.0f} s.")


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
    _, values = deployed(target, stage)
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
        say(
            "SKIPPED the browser tests: no Chromium found. Install one (`apt-get install chromium`) or set "
            "CHROMIUM_PATH; CI (.ci/run) always installs it."
        )
        return
    outputs_file = outputs_file or _saved_outputs(target, stage)
    say(f"Browser tests in {chromium} (screenshots in {LOCAL / 'artifacts'}):")
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
        say(f"In the background ({name}): {shlex.join(command)}")
        jobs[name] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )

    for name, job_command in background.items():
        in_background(name, job_command)
    # Private engines, each with its own port and folder: a running `invoke up` engine, or another `invoke test`,
    # is left alone. The slowest end-to-end tests mostly wait (three visibility timeouts, an engine restart), so
    # they get an engine of their own and run beside the rest of the suite.
    engines: list[MiniStack] = []

    def private_engine(label: str) -> str:
        engine = MiniStack(port=free_port(), state_dir=LOCAL / f"test-engine-{os.getpid()}-{label}")
        shutil.rmtree(engine.state_dir, ignore_errors=True)
        engine.state_dir.mkdir(parents=True)
        engines.append(engine)
        say(f"Starting a private MiniStack on port {engine.port} for the {label} tests ...")
        engine.start()
        values = deploy_and_warm(engine, "dev", progress=say)[1]
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
            say(f"\n{name}: {shlex.join(background[name])}\n{output.rstrip()}")
    failed = [name for name, job in jobs.items() if job.returncode != 0]
    if failed:
        raise Exit(f"Failed: {', '.join(failed)} (see above).", code=1)
    say(f"All checks passed in {time.monotonic() - started:.0f} s.")
