"""Consumers of the API: one Cognito app client per calling service, created, listed and removed by a task.

Why app clients made by a task rather than declared in the template: onboarding or revoking a caller is then one
call that takes effect at once, without a stack deployment (and without a change set touching the API); each
stage and account holds exactly the callers it serves; and a client secret never passes through a template,
a parameter or a change set. The development client (non-prod stages) is in the template because every
developer and test needs it on every engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from devkit.core.project import ToolingError
from devkit.engines import Engine
from devkit.stack.auth import READ_SCOPE, parse_scopes

NAME_PREFIX: Final = "consumer-"
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class Consumer:
    name: str
    client_id: str
    scopes: tuple[str, ...]


def _pool(outputs: Mapping[str, Any]) -> str:
    pool = outputs.get("UserPoolId")
    if not pool:
        raise ToolingError("The stack outputs have no UserPoolId: deploy the stack again.")
    return str(pool)


def _cognito(engine: Engine) -> Any:
    return engine.client("cognito-idp")


def create_consumer(
    engine: Engine,
    outputs: Mapping[str, Any],
    name: str,
    scopes: Sequence[str] = (READ_SCOPE,),
    *,
    token_minutes: int | None = None,
) -> Consumer:
    """A new app client `consumer-<name>` with a secret, the client-credentials grant and `scopes` (least privilege:
    read only unless asked for more)."""
    if not _NAME.fullmatch(name):
        raise ToolingError(f"Consumer name {name!r}: use 1-63 lower-case letters, digits and hyphens.")
    scopes = parse_scopes(" ".join(scopes), default=(READ_SCOPE,))
    if any(consumer.name == name for consumer in list_consumers(engine, outputs)):
        raise ToolingError(f"Consumer {name} exists already; remove it first to issue new credentials.")
    minutes = token_minutes or int(outputs.get("AccessTokenMinutes", 60))
    try:
        client = _cognito(engine).create_user_pool_client(
            UserPoolId=_pool(outputs),
            ClientName=f"{NAME_PREFIX}{name}",
            GenerateSecret=True,
            AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["client_credentials"],
            AllowedOAuthScopes=sorted(set(scopes)),
            AccessTokenValidity=minutes,
            TokenValidityUnits={"AccessToken": "minutes"},
            EnableTokenRevocation=True,
            PreventUserExistenceErrors="ENABLED",
        )["UserPoolClient"]
    except (BotoCoreError, ClientError) as error:
        raise ToolingError(f"Could not create the app client: {error}") from None
    return Consumer(name, client["ClientId"], tuple(client.get("AllowedOAuthScopes", [])))


def list_consumers(engine: Engine, outputs: Mapping[str, Any]) -> list[Consumer]:
    pool = _pool(outputs)
    cognito = _cognito(engine)
    consumers = []
    try:
        for page in cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool):
            for summary in page.get("UserPoolClients", []):
                if not summary.get("ClientName", "").startswith(NAME_PREFIX):
                    continue
                described = cognito.describe_user_pool_client(UserPoolId=pool, ClientId=summary["ClientId"])
                scopes = tuple(described["UserPoolClient"].get("AllowedOAuthScopes", []))
                consumers.append(
                    Consumer(summary["ClientName"][len(NAME_PREFIX) :], summary["ClientId"], scopes)
                )
    except (BotoCoreError, ClientError) as error:
        raise ToolingError(f"Could not list the app clients: {error}") from None
    return sorted(consumers, key=lambda consumer: consumer.name)


def remove_consumer(engine: Engine, outputs: Mapping[str, Any], client_id: str) -> None:
    """Delete the app client: its secret stops working at once (tokens already issued live out their lifetime)."""
    try:
        _cognito(engine).delete_user_pool_client(UserPoolId=_pool(outputs), ClientId=client_id)
    except (BotoCoreError, ClientError) as error:
        raise ToolingError(f"Could not remove app client {client_id}: {error}") from None
