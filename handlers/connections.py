"""WebSocket routes of the notification API: $connect records the connection (the authorizer has already
admitted it), $disconnect forgets it, $default accepts a client's keep-alive (API Gateway drops a connection idle
for 10 minutes) and ignores anything else: the socket only pushes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from purchases.adapters.connections import DynamoDbConnectionStore, lazy_connection_table
from purchases.config import ConnectionsConfig
from purchases.lazy import Lazy, build_during_init
from purchases.notifications import ConnectionStore
from purchases.observability import build_logger, build_tracer

logger = build_logger()
tracer = build_tracer()
config = ConnectionsConfig.from_environ()

connection_table = lazy_connection_table(config.connection_table)
store: Lazy[ConnectionStore] = Lazy(lambda: DynamoDbConnectionStore(connection_table))

_OK = {"statusCode": 200}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route = request.get("routeKey")
    connection_id = str(request.get("connectionId", ""))
    if route == "$connect":
        principal = str((request.get("authorizer") or {}).get("principalId", ""))
        store().remember(connection_id, principal, int(request.get("connectedAt") or 0))
        logger.info("Connected", extra={"connection_id": connection_id, "principal": principal})
    elif route == "$disconnect":
        store().forget(connection_id)
        logger.info("Disconnected", extra={"connection_id": connection_id})
    else:
        logger.info("Message ignored", extra={"connection_id": connection_id, "route": route})
    return _OK


build_during_init(connection_table)
