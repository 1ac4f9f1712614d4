"""The OAuth clients of calling services: `invoke consumer.create NAME`, `consumer.remove CLIENT_ID`, `consumer.list`."""

from __future__ import annotations

from invoke.context import Context

from devkit.commands import command, deployed, say
from devkit.core import ui
from devkit.core.project import stack_name
from devkit.stack import consumers
from devkit.stack.auth import READ_SCOPE, client_secret, parse_scopes


@command(
    positional=["name"],
    help={
        "name": "the calling service, e.g. order-service (creates app client consumer-<name>)",
        "scopes": "comma-separated scopes (default: purchases/read; also purchases/write, purchases/admin)",
        "show_secret": "print the new client's secret (otherwise: read it with DescribeUserPoolClient)",
    },
)
def create(
    c: Context,
    name: str,
    scopes: str = "",
    show_secret: bool = False,
    target: str = "ministack",
    stage: str = "dev",
) -> None:
    """Give a calling service its own OAuth client (read-only unless --scopes adds more)."""
    engine, values = deployed(target, stage)
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
    positional=["client_id"],
    help={"client_id": "the consumer's app client id"},
)
def remove(c: Context, client_id: str, target: str = "ministack", stage: str = "dev") -> None:
    """Remove a consumer's OAuth client: its secret stops working at once."""
    engine, values = deployed(target, stage)
    consumers.remove_consumer(engine, values, client_id)
    say(f"Removed app client {client_id}.")


@command(
    name="list",
    default=True,
)
def list_(c: Context, target: str = "ministack", stage: str = "dev") -> None:
    """List the consumers' OAuth clients and their scopes (also what `invoke consumer` alone does)."""
    engine, values = deployed(target, stage)
    listed = consumers.list_consumers(engine, values)
    ui.table(
        ("Consumer", "Client id", "Scopes"),
        [(item.name, item.client_id, " ".join(item.scopes)) for item in listed],
    )
    say(f"{len(listed)} consumer(s) on {stack_name(stage)} ({target}).")
