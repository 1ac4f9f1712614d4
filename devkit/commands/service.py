"""Use a deployed stack: its outputs, tokens and consumers, sample data, dead letters, the OpenAPI document,
live notifications and the console."""

from __future__ import annotations

import json
import time
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from devkit import ui
from devkit.commands import command, deployed, engine_named, say
from devkit.project import ToolingError, check_stage, stack_name


@command(
    help={
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev)",
        "json": "print JSON",
    }
)
def outputs(c: Context, target: str = "ministack", stage: str = "dev", json_: bool = False) -> None:
    """Print the stack outputs, with URLs reachable from this host."""
    _, values = deployed(target, stage)
    if json_:
        say(json.dumps(values, indent=2, sort_keys=True))
    else:
        ui.table(("Output", "Value"), sorted(values.items()))


@command(help={"target": "ministack (default), localstack or aws", "stage": "stage (default dev)"})
def seed(c: Context, target: str = "ministack", stage: str = "dev") -> None:
    """Send the sample purchases through the API and print their ids once readable."""
    from devkit.auth import authorization_header
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
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev; prod has no development client)",
    }
)
def token(c: Context, scopes: str = "", target: str = "ministack", stage: str = "dev") -> None:
    """Print a bearer access token for the stage's development client (one line, nothing else on stdout)."""
    from devkit.auth import access_token, parse_scopes

    engine, values = deployed(target, stage)
    print(access_token(engine, values, parse_scopes(scopes)))


@command(
    help={
        "name": "the calling service, e.g. order-service (creates app client consumer-<name>)",
        "scopes": "comma-separated scopes for a new consumer (default: purchases/read; also purchases/write, "
        "purchases/admin)",
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
    from devkit.auth import READ_SCOPE, client_secret, parse_scopes

    engine, values = deployed(target, stage)
    if name and remove:
        raise Exit("Pass --name to create a consumer or --remove to delete one, not both.")
    if remove:
        consumers.remove_consumer(engine, values, remove)
        say(f"Removed app client {remove}.")
        return
    if not name:
        listed = consumers.list_consumers(engine, values)
        ui.table(
            ("Consumer", "Client id", "Scopes"),
            [(item.name, item.client_id, " ".join(item.scopes)) for item in listed],
        )
        say(f"{len(listed)} consumer(s) on {stack_name(stage)} ({target}).")
        return
    created = consumers.create_consumer(engine, values, name, parse_scopes(scopes, default=(READ_SCOPE,)))
    say(f"Consumer {created.name}: client id {created.client_id}, scopes {' '.join(created.scopes)}")
    say(f"Token endpoint: {values['TokenUrl']} (grant_type=client_credentials, HTTP Basic client auth)")
    if show_secret:
        say(f"Client secret: {client_secret(engine, values['UserPoolId'], created.client_id)}")
    else:
        say(
            "Secret not shown: hand it over with --show-secret, or read it with cognito-idp describe-user-pool-client."
        )


@command(
    help={
        "owner": "app client id that becomes the owner of every purchase without one (required)",
        "target": "aws (default), ministack or localstack",
        "stage": "stage (default dev)",
    }
)
def backfill_owners(c: Context, owner: str = "", target: str = "aws", stage: str = "dev") -> None:
    """Give purchases stored before owners were kept an owner (--owner) and a place in their owner's list."""
    from devkit.owners import backfill_owners as backfill

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
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev)",
        "redrive": "move the messages back to the queue",
    }
)
def dlq(c: Context, target: str = "ministack", stage: str = "dev", redrive: bool = False) -> None:
    """List the dead-letter queue's messages, or move them back to the queue."""
    from devkit import dlq as dead_letters

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
        "stage": "stage (default dev)",
    }
)
def openapi(c: Context, out: str = "openapi.json", target: str = "ministack", stage: str = "dev") -> None:
    """Write the API's OpenAPI description, generated from the purchase schema."""
    from devkit.openapi import openapi_document, stage_url
    from devkit.outputs import reachable_outputs

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
        "target": "ministack (default), localstack or aws",
        "stage": "stage (default dev)",
        "bench": "instead: time N writes from 202 to notification received (p50/p95, warm), alone and beside idle connections",
        "idle": "with --bench: idle connections of other clients for the second phase (default 1000; 0: none)",
    }
)
def notifications(
    c: Context, target: str = "ministack", stage: str = "dev", bench: int = 0, idle: int = 1000
) -> None:
    """Print purchase notifications (created / updated / deleted) as they are pushed, until Ctrl-C."""
    from devkit.notifications import watch

    engine, values = deployed(target, stage)
    if bench:
        from devkit.bench.notifications import format_bench, measure

        if idle < 0:
            raise ToolingError(f"--idle {idle}: give a number of connections, 0 or more.")
        say(format_bench(measure(engine, values, bench, idle=idle, progress=say)))
        return
    try:
        watch(engine, values, show=say)
    except KeyboardInterrupt:
        say("\nStopped.")


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

    from devkit.auth import READ_WRITE_SCOPES, access_token
    from devkit.console.server import ConsoleServer, ConsoleTarget

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
