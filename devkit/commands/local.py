"""Run the local engine: start it and deploy the stack (`up`), stop it, ask how it is, read its logs."""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit

from devkit import ui
from devkit.commands import command, engine_named, say
from devkit.project import EMULATORS, check_stage, stack_name

if TYPE_CHECKING:
    from devkit.engines.ministack import MiniStack


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
    from devkit.engines.ministack.state import describe_backup
    from devkit.warm import deploy_and_warm
    from devkit.watch import watch_handlers

    if engine not in EMULATORS:
        raise Exit(f"`invoke up` runs a local engine ({', '.join(EMULATORS)}); for AWS use `invoke deploy`.")
    started = time.monotonic()
    check_stage(stage)
    target = engine_named(engine, port)
    starting = not target.status().running or fresh or restore
    if not starting:
        say(f"Reusing running {engine}.")
    if restore:
        if not isinstance(target, MiniStack):
            raise Exit("--restore applies to MiniStack's local state only.", code=1)
        with ui.phase(f"Starting {engine}"):
            target.start(fresh=fresh, restore=True)
        if target.restored:
            backup, aside = target.restored
            say(
                f"Restored the state backed up {describe_backup(backup)}"
                + (f"; the replaced state is in {aside}." if aside else ".")
            )
    elif starting:
        with ui.phase(f"Starting {engine}"):
            target.start(fresh=fresh)
    else:
        target.start(fresh=fresh)
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
    from devkit.engines.ministack import MiniStack

    target = engine_named(engine)
    was_running = target.status().running
    if isinstance(target, MiniStack):
        target.stop(purge=purge, force=force)
    else:
        target.stop(purge=purge)
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
        stacks = cloudformation.describe_stacks().get("Stacks", [])
        ui.table(("Stack", "Status"), [(stack["StackName"], stack["StackStatus"]) for stack in stacks])


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
    from devkit.stacks import function_named

    target = engine_named(engine)
    if not function:
        log_file = target.log_file()
        if engine == "localstack":
            c.run(f"docker compose logs {'--follow ' if follow else ''}localstack", pty=False)
        elif log_file is None or not log_file.exists():
            raise Exit(f"No engine log for {engine}; use --function NAME (sender, reader, writer, ...).")
        else:
            c.run(f"tail -n 200 {'-f ' if follow else ''}{shlex.quote(str(log_file))}", pty=False)
        return
    name = function_named(target, stack_name(check_stage(stage)), function)
    try:
        for line in log_lines(target, name, follow=follow):
            say(line)
    except KeyboardInterrupt:
        pass


@command(
    positional=["action", "name"],
    help={
        "action": "save, load or remove (`invoke snapshots` lists them)",
        "name": "the snapshot's name: 1-64 letters, digits, '.', '_', '-'",
        "engine": "ministack (the only engine with local snapshots)",
    },
)
def snapshot(c: Context, action: str, name: str, engine: str = "ministack") -> None:
    """Save, load or remove a named copy of the local engine's whole state (`invoke snapshot save before-demo`)."""
    from devkit import snapshots

    target = _snapshot_engine(engine)
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
    elif action == "remove":
        removed = snapshots.remove(target, name)
        say(f"Removed snapshot {removed.name}.")
    else:
        # invoke's positional arguments are all required, so listing is a task of its own.
        hint = " (to list them: `invoke snapshots`)" if action == "list" else ""
        raise Exit(f"Unknown snapshot action {action!r}: choose save, load or remove{hint}.", code=1)


@command(help={"engine": "ministack (the only engine with local snapshots)"})
def snapshots(c: Context, engine: str = "ministack") -> None:
    """List the local engine's snapshots with their date and size."""
    from devkit import snapshots as saved

    target = _snapshot_engine(engine)
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
