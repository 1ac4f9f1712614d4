"""WebSocket routes of the notification API: $connect records the connection with its owner and token expiry
(the authorizer has already admitted the token) unless its client holds the most connections it may (a lease
taken by a conditional write, so simultaneous connects cannot overshoot), $disconnect forgets it and gives its
lease back, $default accepts a client's keep-alive (API Gateway drops a connection idle for 10 minutes) and
ignores anything else: the socket only pushes."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases.adapters.connections import DynamoDbConnectionStore, lazy_connection_table
from purchases.config import ConnectionsConfig
from purchases.lazy import Lazy, build_during_init
from purchases.notifications import ConnectionStore, ConnectOutcome, admit, connection_of
from purchases.observability import build_logger, build_tracer

logger = build_logger()
tracer = build_tracer()
config = ConnectionsConfig.from_environ()

connection_table = lazy_connection_table(config.connection_table)
lease_table = lazy_connection_table(config.lease_table)
store: Lazy[ConnectionStore] = Lazy(lambda: DynamoDbConnectionStore(connection_table, lease_table))

_OK = {"statusCode": 200}
# A refused $connect: API Gateway refuses the handshake with the route's status.
_REFUSALS = {
    ConnectOutcome.TOO_MANY: {"statusCode": 429, "body": "Too many open connections for this client"},
    ConnectOutcome.INVALID: {"statusCode": 403, "body": "Forbidden"},
}


def _connect(request: dict[str, Any], connection_id: str) -> dict[str, Any]:
    context = request.get("authorizer")
    connection = connection_of(connection_id, context if isinstance(context, dict) else {})
    now = time.time()
    if connection is None:
        outcome = ConnectOutcome.INVALID
    else:
        connected_at = request.get("connectedAt")
        connected_at_ms = connected_at if isinstance(connected_at, int) else int(now * 1000)
        outcome = admit(
            connection,
            store(),
            limit=config.max_connections_per_client,
            now=now,
            connected_at_ms=connected_at_ms,
        )
    if outcome is not ConnectOutcome.ADMITTED:
        logger.info("Connection refused", extra={"connection_id": connection_id, "reason": outcome.value})
        return _REFUSALS[outcome]
    assert connection is not None
    logger.info(
        "Connected",
        extra={"connection_id": connection_id, "client_id": connection.client_id, "admin": connection.admin},
    )
    return _OK


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route = request.get("routeKey")
    connection_id = str(request.get("connectionId", ""))
    if route == "$connect":
        return _connect(request, connection_id)
    if route == "$disconnect":
        store().forget(connection_id)
        logger.info("Disconnected", extra={"connection_id": connection_id})
    else:
        logger.info("Message ignored", extra={"connection_id": connection_id, "route": route})
    return _OK


build_during_init(connection_table, lease_table)
