"""Run the local engine: start it and deploy the stack (`up`), stop it, ask how it is, read its logs."""

from __future__ import annotations

import json
import shlex
import time
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit

from devkit.commands import command, engine_named, running, say
from devkit.core import ui
from devkit.core.project import EMULATORS, ToolingError, check_port, check_stage, stack_name

if TYPE_CHECKING:
    pass


@command(
    help={
        "target": "ministack (default, no Docker) or localstack (Docker)",
        "fresh": "start from empty state (drops local data)",
        "watch": "stay in the foreground and push handler edits live",
        "port": "port for the engine (default 4566, or the one it last ran on; saved local data moves with it)",
        "stage": "stage to deploy (default dev)",
        "restore": "MiniStack: put back the last good backup of the local state (the current one is moved aside)",
    }
)
def up(
    c: Context,
    target: str = "ministack",
    fresh: bool = False,
    watch: bool = False,
    port: int = 0,
    stage: str = "dev",
    restore: bool = False,
) -> None:
    """Start the local engine if needed, deploy the stack to it and print the API URL."""
    from devkit.delivery.warm import deploy_and_warm
    from devkit.delivery.watch import watch_handlers
    from devkit.engines.lifecycle import start_local

    if target not in EMULATORS:
        raise Exit(f"`invoke up` runs a local engine ({', '.join(EMULATORS)}); for AWS use `invoke deploy`.")
    started = time.monotonic()
    check_stage(stage)
    engine = engine_named(target, check_port(port) if port else 0)
    start_local(engine, fresh=fresh, restore=restore, progress=say)
    with ui.phase(f"Deploying stage {stage} and warming its functions"):
        result, values, warmed = deploy_and_warm(engine, stage, progress=say)
    api = values["ProductPurchaseApi"]
    say("Functions warm: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in warmed.items()) + ".")
    say(f"Stack {result.stack_name} {result.action} on {target} in {time.monotonic() - started:.1f} s.")
    options = "".join(
        f" --{name} {value}"
        for name, value, default in (("target", target, "ministack"), ("stage", stage, "dev"))
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
            watch_handlers(engine, result.stack_name, progress=say)
        except KeyboardInterrupt:
            say("\nStopped watching; the engine keeps running (`invoke down` stops it).")


@command(
    help={
        "purge": "also delete the engine's saved state",
        "force": "MiniStack: kill it if it does not stop in time (changes since its last save are lost)",
    }
)
def down(c: Context, target: str = "ministack", purge: bool = False, force: bool = False) -> None:
    """Stop the local engine (state is kept unless --purge)."""
    from devkit.engines.lifecycle import stop_local

    was_running = stop_local(engine_named(target), purge=purge, force=force)
    state = "stopped" if was_running else "was not running"
    say(f"{target} {state}{'; its state is deleted' if purge else ''}.")


@command()
def status(c: Context, target: str = "ministack") -> None:
    """Show whether the engine runs and which stacks it holds."""
    engine = engine_named(target)
    state = engine.status()
    say(f"{state.engine}: {'running' if state.running else 'stopped'} - {state.detail}")
    if state.running:
        from devkit.engines.emulator import stack_statuses

        ui.table(("Stack", "Status"), stack_statuses(engine))
        from devkit.engines.debugging import describe_sessions

        for line in describe_sessions(engine):
            say(line)


@command(
    help={
        "stage": "stage whose functions to read (default dev)",
        "function": "sender, reader, writer, notifier, sweeper, connections or authorizer: only its lines (default: every "
        "function of the stack, merged in time order)",
        "filter": "only the lines containing this text (case-sensitive)",
        "since": "how far back to start: 30s, 10m, 2h, 1d (default 10m)",
        "follow": "keep printing new lines as they arrive (Ctrl-C stops)",
        "json": "one JSON object per line (function, timestamp in ms, message) instead of text",
        "engine_log": "the local engine's own log instead of the functions' (with --follow: keep printing)",
    }
)
def logs(
    c: Context,
    target: str = "ministack",
    stage: str = "dev",
    function: str = "",
    filter: str = "",
    since: str = "10m",
    follow: bool = False,
    json_: bool = False,
    engine_log: bool = False,
) -> None:
    """Print the stack's functions' log lines, merged in time order and prefixed with their function."""
    from devkit.engines.lifecycle import engine_log_command
    from devkit.stack.logs import since_seconds, stack_events, stack_log_groups

    if engine_log:
        c.run(shlex.join(engine_log_command(engine_named(target), follow=follow)), pty=False)
        return
    window = since_seconds(since)
    engine = running(target)
    groups = stack_log_groups(engine, stack_name(check_stage(stage)))
    if function:
        if function.lower() not in groups:
            raise ToolingError(f"Unknown function {function!r}: choose one of {', '.join(sorted(groups))}.")
        groups = {function.lower(): groups[function.lower()]}
    width = max(len(name) for name in groups)
    styles = {
        name: ui.SOURCE_STYLES[index % len(ui.SOURCE_STYLES)] for index, name in enumerate(sorted(groups))
    }
    try:
        for event in stack_events(engine, groups, since_s=window, text=filter, follow=follow):
            if json_:
                record = {"function": event.source, "timestamp": event.timestamp, "message": event.message}
                say(json.dumps(record))
            else:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.timestamp / 1000))
                ui.prefixed(
                    f"{event.source:<{width}} {stamp}.{event.timestamp % 1000:03d}",
                    event.message,
                    styles[event.source],
                )
    except KeyboardInterrupt:
        pass
