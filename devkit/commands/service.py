"""Use a deployed stack: its outputs and tokens, sample data, dead letters, the OpenAPI document,
live notifications and the console."""

from __future__ import annotations

import json
import time
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from devkit.commands import command, deployed, engine_named, say
from devkit.core import ui
from devkit.core.project import ToolingError, check_stage


@command()
def outputs(c: Context, target: str = "ministack", stage: str = "dev", json_: bool = False) -> None:
    """Print the stack outputs, with URLs reachable from this host."""
    _, values = deployed(target, stage)
    if json_:
        say(json.dumps(values, indent=2, sort_keys=True))
    else:
        ui.table(("Output", "Value"), sorted(values.items()))


@command()
def seed(c: Context, target: str = "ministack", stage: str = "dev") -> None:
    """Send the sample purchases through the API and print their ids once readable."""
    from devkit.stack.auth import authorization_header
    from seed.send import send_samples

    engine, values = deployed(target, stage)
    api = values["ProductPurchaseApi"]
    ids = send_samples(api, headers=authorization_header(engine, values))
    for purchase_id in ids:
        say(f"{api}{purchase_id}")


@command(
    help={
        "scopes": "comma-separated scopes (default: purchases/read,purchases/write; add purchases/admin to see "
        "every client's purchases)",
        "stage": "stage (default dev; prod has no development client)",
    }
)
def token(c: Context, scopes: str = "", target: str = "ministack", stage: str = "dev") -> None:
    """Print a bearer access token for the stage's development client (one line, nothing else on stdout)."""
    from devkit.stack.auth import access_token, parse_scopes

    engine, values = deployed(target, stage)
    print(access_token(engine, values, parse_scopes(scopes)))


@command(
    help={
        "owner": "app client id that becomes the owner of every purchase without one (required)",
    }
)
def backfill_owners(c: Context, owner: str = "", target: str = "ministack", stage: str = "dev") -> None:
    """Give purchases stored before owners were kept an owner (--owner) and a place in their owner's list."""
    from devkit.stack.owners import backfill_owners as backfill

    if not owner:
        raise Exit(
            "Pass --owner CLIENT_ID: the app client that becomes the owner of purchases without one.", code=1
        )
    engine, values = deployed(target, stage)
    report = backfill(engine, values, owner)
    say(
        f"Scanned {report.scanned} item(s): {report.owned} given owner {owner}, {report.listed} listed for the "
        f"owner they had, {report.unchanged} unchanged, {report.changed_meanwhile} changed meanwhile (left as "
        "they are; run again to revisit them)."
    )


@command(
    help={
        "redrive": "move the messages back to the queue",
    }
)
def dlq(c: Context, target: str = "ministack", stage: str = "dev", redrive: bool = False) -> None:
    """List the dead-letter queue's messages, or move them back to the queue."""
    from devkit.stack import dlq as dead_letters

    engine, values = deployed(target, stage)
    if redrive:
        moved = dead_letters.redrive(engine, values["DeadLetterQueueUrl"], values["QueueUrl"], progress=say)
        say(f"Moved {moved} message(s) back to the queue.")
        return
    messages = dead_letters.peek(engine, values["DeadLetterQueueUrl"])
    ui.table(
        ("Message id", "Received", "Sent", "Body"),
        [
            (
                message.message_id,
                f"{message.receive_count}x",
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(message.sent_at_ms / 1000)),
                message.body[:200],
            )
            for message in messages
        ],
    )
    say(
        f"{len(messages)} message(s) in the DLQ."
        + (" Fix the cause, then `invoke dlq --redrive`." if messages else "")
    )


@command(
    help={
        "out": "file to write (default openapi.json; - for stdout)",
        "target": "engine whose running stack's URL goes into `servers` (default ministack; none if not deployed)",
    }
)
def openapi(c: Context, out: str = "openapi.json", target: str = "ministack", stage: str = "dev") -> None:
    """Write the API's OpenAPI description, generated from the purchase schema."""
    from devkit.checks.openapi import openapi_document, stage_url
    from devkit.stack.outputs import reachable_outputs

    try:
        values = reachable_outputs(engine_named(target), check_stage(stage))
        server: str | None = stage_url(values["ProductPurchaseApi"])
        token_url: str | None = values.get("TokenUrl")
    except ToolingError:
        server = token_url = None
    document = json.dumps(openapi_document(server, token_url=token_url), indent=2)
    if out == "-":
        say(document)
        return
    Path(out).write_text(document + "\n")
    say(f"Wrote {out}" + (f" (server {server})." if server else " (no running stack: no `servers` entry)."))


@command(
    help={
        "bench": "instead: time N writes from 202 to notification received (p50/p95, warm)",
    }
)
def notifications(c: Context, target: str = "ministack", stage: str = "dev", bench: int = 0) -> None:
    """Print purchase notifications (created / updated / deleted) as they are pushed, until Ctrl-C."""
    from devkit.stack.notifications import watch

    engine, values = deployed(target, stage)
    if bench:
        from devkit.bench.notifications import format_bench, measure

        say(format_bench(measure(engine, values, bench, progress=say)))
        return
    try:
        watch(engine, values, show=say)
    except KeyboardInterrupt:
        say("\nStopped.")


@command(
    help={
        "port": "port on 127.0.0.1 (default 0: a free one)",
        "open": "also open the console in your browser",
    }
)
def console(
    c: Context, port: int = 0, target: str = "ministack", stage: str = "dev", open: bool = False
) -> None:
    """Serve the web console (purchases, live changes, queue, dead letters) on 127.0.0.1 until Ctrl-C."""
    import webbrowser

    from devkit.console.server import ConsoleServer, ConsoleTarget
    from devkit.stack.auth import READ_WRITE_SCOPES, access_token

    engine, values = deployed(target, stage)
    access_token(engine, values, READ_WRITE_SCOPES)  # fail now, with what to do, rather than in the browser
    server = ConsoleServer(ConsoleTarget(engine, values), port)
    say(f"Console: {server.url}  ({target}, stage {stage}; Ctrl-C to stop)")
    if open:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("\nConsole stopped.")
