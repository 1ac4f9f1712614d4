"""Run the local engine: start it and deploy the stack (`up`), stop it, ask how it is, read its logs."""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit

from devkit import ui
from devkit.commands import command, engine_named, say
from devkit.project import EMULATORS, check_port, check_stage, stack_name

if TYPE_CHECKING:
    from devkit.engines.ministack import MiniStack


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
    with ui.phase(f"Deploying stage {stage} and warming its functions"):
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
        from devkit.stacks import stack_statuses

        ui.table(("Stack", "Status"), stack_statuses(target))
        from devkit.debugging import describe_sessions

        for line in describe_sessions(target):
            say(line)


@command(
    help={
        "engine": "ministack, localstack or aws",
        "follow": "keep printing new lines",
        "function": "sender, reader, writer, notifier, connections or authorizer: its logs, not the engine's",
        "stage": "stage whose functions to read (default dev)",
    }
)
def logs(
    c: Context, engine: str = "ministack", follow: bool = False, function: str = "", stage: str = "dev"
) -> None:
    """Print the engine's log, or one function's log lines."""
    from devkit.function_logs import log_lines
    from devkit.local_engine import engine_log_command
    from devkit.stacks import function_named

    target = engine_named(engine)
    if not function:
        c.run(shlex.join(engine_log_command(target, follow=follow)), pty=False)
        return
    try:
        for line in log_lines(
            target, function_named(target, stack_name(check_stage(stage)), function), follow=follow
        ):
            say(line)
    except KeyboardInterrupt:
        pass


@command(
    positional=["action", "name"],
    optional=["name"],
    help={
        "action": "save, load, remove or list",
        "name": "the snapshot's name: 1-64 letters, digits, '.', '_', '-'",
        "engine": "ministack (the only engine with local snapshots)",
    },
)
def snapshot(c: Context, action: str, name: str | None = None, engine: str = "ministack") -> None:
    """Save, load, remove or list named copies of the local engine's whole state (`invoke snapshot save demo`)."""
    from devkit import snapshots

    target = _snapshot_engine(engine)
    if action == "list":
        _list_snapshots(target)
        return
    if action not in ("save", "load", "remove"):
        raise Exit(f"Unknown snapshot action {action!r}: choose save, load, remove or list.", code=1)
    if not name:
        raise Exit(f"`invoke snapshot {action}` needs a NAME: `invoke snapshot {action} NAME`.", code=1)
    if action == "save":
        with ui.phase(f"Saving snapshot {name}"):
            saved = snapshots.save(target, name)
        say(
            f"Saved snapshot {saved.name} ({snapshots.human_size(saved.size)}): `invoke snapshot load {saved.name}`."
        )
    elif action == "load":
        with ui.phase(f"Loading snapshot {name}"):
            loaded, kept, running = snapshots.load(target, name)
        if kept:
            say(f"The state it replaced is kept as snapshot {kept.name}.")
        say(
            f"Loaded snapshot {loaded.name} into the running engine (`invoke outputs` shows its URLs)."
            if running
            else f"Loaded snapshot {loaded.name}; the engine is stopped: `invoke up` starts it with this state."
        )
    else:
        removed = snapshots.remove(target, name)
        say(f"Removed snapshot {removed.name}.")


def _list_snapshots(target: MiniStack) -> None:
    from devkit import snapshots as saved

    rows = [
        (
            item.name,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.taken)),
            saved.human_size(item.size),
            "automatic (before a load)" if item.automatic else "",
        )
        for item in saved.list_snapshots(target)
    ]
    if rows:
        ui.table(("Snapshot", "Taken", "Size", ""), rows)
    say(f"{len(rows)} snapshot(s) in {saved.snapshots_folder(target)}.")


def _snapshot_engine(engine: str) -> MiniStack:
    from devkit.engines.ministack import MiniStack

    target = engine_named(engine)
    if not isinstance(target, MiniStack):
        raise Exit("Snapshots are of MiniStack's local state: `--engine ministack`.", code=1)
    return target
