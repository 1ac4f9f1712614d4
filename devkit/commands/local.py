"""Run the local engine: start it and deploy the stack (`up`), stop it, ask how it is, read its logs."""

from __future__ import annotations

import json as json_module
import shlex
import time
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit

from devkit.commands import command, engine_named, running, say
from devkit.core import ui
from devkit.core.project import EMULATORS, ToolingError, check_port, check_stage, stack_name

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
    from devkit.delivery.warm import deploy_and_warm
    from devkit.delivery.watch import watch_handlers
    from devkit.engines.lifecycle import start_local

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
    from devkit.engines.lifecycle import stop_local

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
        from devkit.engines.emulator import stack_statuses

        ui.table(("Stack", "Status"), stack_statuses(target))


@command(
    help={
        "target": "ministack (default), localstack or aws",
        "stage": "stage whose functions to read (default dev)",
        "function": "sender, reader, writer, notifier, connections or authorizer: only its lines (default: every "
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
    json: bool = False,
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
            if json:
                record = {"function": event.source, "timestamp": event.timestamp, "message": event.message}
                say(json_module.dumps(record))
            else:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.timestamp / 1000))
                ui.prefixed(
                    f"{event.source:<{width}} {stamp}.{event.timestamp % 1000:03d}",
                    event.message,
                    styles[event.source],
                )
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
    from devkit.engines import snapshots

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


@command(
    positional=["name", "file"],
    help={
        "name": "the snapshot to export (`invoke snapshot list` shows them)",
        "file": "the file to write: one gzip-compressed tar (e.g. demo.snapshot.tar.gz)",
        "engine": "ministack (the only engine with local snapshots)",
        "json": "print what was written as JSON (file, size in bytes, MiniStack version)",
    },
)
def snapshot_export(c: Context, name: str, file: str, engine: str = "ministack", json: bool = False) -> None:
    """Write a snapshot and the MiniStack version it was made with into one file a colleague can import."""
    from pathlib import Path

    from devkit.engines import snapshots

    target = _snapshot_engine(engine)
    with ui.phase(f"Exporting snapshot {name}"):
        written = snapshots.export(target, name, Path(file))
    if json:
        manifest = snapshots.read_manifest(written)
        document = {
            "name": name,
            "file": str(written),
            "size": written.stat().st_size,
            "ministack": manifest["ministack"],
        }
        say(json_module.dumps(document))
        return
    say(
        f"Exported snapshot {name} to {written} ({snapshots.human_size(written.stat().st_size)}): "
        f"`invoke snapshot-import {written}` on another machine."
    )


@command(
    positional=["file", "name"],
    optional=["name"],
    help={
        "file": "a file written by `invoke snapshot-export`",
        "name": "the name to give it here (default: the name it was exported with)",
        "engine": "ministack (the only engine with local snapshots)",
        "json": "print the imported snapshot as JSON (name, the MiniStack that made it, this project's)",
    },
)
def snapshot_import(
    c: Context, file: str, name: str | None = None, engine: str = "ministack", json: bool = False
) -> None:
    """Add an exported snapshot to this project's snapshots (`invoke snapshot load NAME` then loads it)."""
    from pathlib import Path

    from devkit.engines import snapshots

    target = _snapshot_engine(engine)
    with ui.phase(f"Importing {file}"):
        imported = snapshots.import_snapshot(target, Path(file), name or None)
    if json:
        made_with = imported.other_version[0] if imported.other_version else snapshots.engine_version()
        document = {
            "name": imported.snapshot.name,
            "madeWith": made_with,
            "ministack": snapshots.engine_version(),
        }
        say(json_module.dumps(document))
        return
    if imported.other_version:
        made_with, running_here = imported.other_version
        ui.warn(
            f"Made with MiniStack {made_with}; this project runs {running_here}: if the engine does not start "
            "with it, `invoke up --restore` or the automatic snapshot the load keeps puts the previous state back."
        )
    say(
        f"Imported snapshot {imported.snapshot.name}: `invoke snapshot load {imported.snapshot.name}` loads it."
    )


def _list_snapshots(target: MiniStack) -> None:
    from devkit.engines import snapshots as saved

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
