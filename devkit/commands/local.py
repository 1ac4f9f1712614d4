"""Run the local engine: start it and deploy the stack (`up`), stop it, ask how it is, read its logs."""

from __future__ import annotations

import shlex
import time

from invoke.context import Context
from invoke.exceptions import Exit

from devkit.commands import command, engine_named, say
from devkit.project import EMULATORS, check_port, check_stage


@command(
    help={
        "engine": "ministack (default, no Docker) or localstack (Docker)",
        "fresh": "start from empty state (drops local data)",
        "watch": "stay in the foreground and push handler edits live",
        "port": "port for the engine (default 4566, or the one it last ran on; saved local data moves with it)",
        "stage": "stage to deploy (default dev)",
        "restore": "MiniStack: put back the last good backup of the local state (the current one is moved aside)",
    }
)
def up(
    c: Context,
    engine: str = "ministack",
    fresh: bool = False,
    watch: bool = False,
    port: str = "",
    stage: str = "dev",
    restore: bool = False,
) -> None:
    """Start the local engine if needed, deploy the stack to it and print the API URL."""
    from devkit.local_engine import start_local
    from devkit.warm import deploy_and_warm
    from devkit.watch import watch_handlers

    if engine not in EMULATORS:
        raise Exit(f"`invoke up` runs a local engine ({', '.join(EMULATORS)}); for AWS use `invoke deploy`.")
    started = time.monotonic()
    check_stage(stage)
    target = engine_named(engine, check_port(port) if port else 0)
    start_local(target, fresh=fresh, restore=restore, progress=say)
    result, values, warmed = deploy_and_warm(target, stage, progress=say)
    api = values["ProductPurchaseApi"]
    say("Functions warm: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in warmed.items()) + ".")
    say(f"Stack {result.stack_name} {result.action} on {engine} in {time.monotonic() - started:.1f} s.")
    options = "".join(
        f" --{name} {value}"
        for name, value, default in (("target", engine, "ministack"), ("stage", stage, "dev"))
        if value != default
    )
    say(
        f"\nAPI: {api}\nEvery request needs a bearer token (client credentials; valid "
        f"{values.get('AccessTokenMinutes', '60')} min):\n"
        f"  TOKEN=$(uv run invoke token{options})\n"
        f'  curl -s {api} -H "Authorization: Bearer $TOKEN"\n'
        "  uv run invoke seed   # sends the sample purchases"
    )
    if watch:
        try:
            watch_handlers(target, result.stack_name, progress=say)
        except KeyboardInterrupt:
            say("\nStopped watching; the engine keeps running (`invoke down` stops it).")


@command(
    help={
        "engine": "ministack or localstack",
        "purge": "also delete the engine's saved state",
        "force": "MiniStack: kill it if it does not stop in time (changes since its last save are lost)",
    }
)
def down(c: Context, engine: str = "ministack", purge: bool = False, force: bool = False) -> None:
    """Stop the local engine (state is kept unless --purge)."""
    from devkit.local_engine import stop_local

    was_running = stop_local(engine_named(engine), purge=purge, force=force)
    state = "stopped" if was_running else "was not running"
    say(f"{engine} {state}{'; its state is deleted' if purge else ''}.")


@command(help={"engine": "ministack, localstack or aws"})
def status(c: Context, engine: str = "ministack") -> None:
    """Show whether the engine runs and which stacks it holds."""
    target = engine_named(engine)
    state = target.status()
    say(f"{state.engine}: {'running' if state.running else 'stopped'} - {state.detail}")
    if state.running:
        cloudformation = target.client("cloudformation")
        for stack in cloudformation.describe_stacks().get("Stacks", []):
            say(f"  stack {stack['StackName']}: {stack['StackStatus']}")


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
    from devkit.function_logs import function_name, log_lines
    from devkit.local_engine import engine_log_command

    target = engine_named(engine)
    if not function:
        c.run(shlex.join(engine_log_command(target, follow=follow)), pty=False)
        return
    try:
        for line in log_lines(target, function_name(target, check_stage(stage), function), follow=follow):
            say(line)
    except KeyboardInterrupt:
        pass
