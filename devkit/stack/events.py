"""Sample events for `invoke event KIND`, in the shapes Lambda hands them to the handlers, built from the same
sample purchase, schema and message encoder the handlers and their tests use: what the sender would queue is what
`sqs-write` carries, and what the writer would store is what `stream-change` shows.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from devkit.core.project import HANDLERS, ToolingError
from seed.send import load_samples

if str(HANDLERS) not in sys.path:
    sys.path.append(str(HANDLERS))

from purchases.schema import ID_FIELD

REGION: Final = "us-east-1"
ACCOUNT: Final = "000000000000"
API_ID: Final = "sample-api"
STAGE: Final = "dev"
# The development client's claims, as API Gateway's Cognito authorizer passes them to the function.
CLAIMS: Final = {
    "client_id": "sample-client",
    "scope": "purchases/read purchases/write",
    "token_use": "access",
}
RESOURCE: Final = "/product-purchase"
# A fixed id, so that `event api-get` and `event api-put` name the same purchase.
SAMPLE_ID: Final = "3f1c2a4e-8b7d-4c6e-9a5f-1e2d3c4b5a69"


def preflight_event() -> dict[str, Any]:
    """A browser's CORS preflight of a POST: the sender's router answers it itself (`invoke up` warms it so)."""
    return api_event(
        "OPTIONS", extra_headers={"Origin": "http://localhost", "Access-Control-Request-Method": "POST"}
    )


def sample_purchase() -> dict[str, Any]:
    """The first purchase of `seed/purchases.json`, which every rule accepts."""
    return load_samples()[0]


def api_event(
    method: str,
    purchase_id: str | None = None,
    body: dict[str, Any] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST API (payload 1.0) proxy event from a caller the Cognito authorizer let in."""
    path = f"{RESOURCE}/{purchase_id}" if purchase_id else RESOURCE
    resource = f"{RESOURCE}/{{id}}" if purchase_id else RESOURCE
    headers = {
        "Accept": "application/json",
        **({"Content-Type": "application/json"} if body is not None else {}),
        **(extra_headers or {}),
    }
    return {
        "version": "1.0",
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"id": purchase_id} if purchase_id else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "resourceId": "sample",
            "resourcePath": resource,
            "httpMethod": method,
            "stage": STAGE,
            "path": f"/{STAGE}{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "invoke event"},
            "authorizer": {"claims": dict(CLAIMS)},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def write_message_body() -> str:
    """A create message exactly as the sender queues it (checked by the writer's own decoder)."""
    from purchases.messages import WriteAction, WriteMessage, encode_checked
    from purchases.rules import parse_purchase

    message = WriteMessage(
        action=WriteAction.CREATE,
        purchase_id=str(uuid.uuid4()),
        purchase=parse_purchase(sample_purchase()),
        stamp=time.time_ns(),
        correlation_id=str(uuid.uuid4()),
        client_id=CLAIMS["client_id"],
        owner=CLAIMS["client_id"],
    )
    return encode_checked(message)


def sqs_write_event() -> dict[str, Any]:
    """One record of the write queue, as the queue's event source mapping delivers it to the writer."""
    now = str(int(time.time() * 1000))
    message_id = str(uuid.uuid4())
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"sample-{message_id}",
                "body": write_message_body(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now,
                    "SenderId": "sample-sender",
                    "ApproximateFirstReceiveTimestamp": now,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:sample-write-queue",
                "awsRegion": REGION,
            }
        ]
    }


def stream_change_event() -> dict[str, Any]:
    """A table stream record of a purchase being created: the item the writer stores for `sqs-write`'s message."""
    from boto3.dynamodb.types import TypeSerializer

    from purchases.adapters.dynamodb import item_for
    from purchases.messages import decode_message

    item = item_for(decode_message(write_message_body()))
    serializer = TypeSerializer()
    return {
        "Records": [
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {
                    "ApproximateCreationDateTime": int(time.time()),
                    "Keys": {ID_FIELD: serializer.serialize(item[ID_FIELD])},
                    "NewImage": {name: serializer.serialize(value) for name, value in item.items()},
                    "SequenceNumber": "100000000000000000001",
                    "SizeBytes": len(json.dumps(item, default=str)),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sample/stream/sample",
            }
        ]
    }


def ws_connect_event() -> dict[str, Any]:
    """A WebSocket `$connect` as the connections function receives it once the authorizer admitted the caller
    (its `queryStringParameters.token` and `methodArn` make it the authorizer's request too: put a real token
    from `invoke token --scopes purchases/read` there to see it admitted)."""
    connected = int(time.time() * 1000)
    return {
        "headers": {"Host": "127.0.0.1", "Sec-WebSocket-Version": "13"},
        "queryStringParameters": {"token": "<access token>"},
        "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/$connect",
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": f"sample{uuid.uuid4().hex[:10]}=",
            "connectedAt": connected,
            "requestTimeEpoch": connected,
            "requestId": str(uuid.uuid4()),
            "apiId": API_ID,
            "stage": STAGE,
            "domainName": "127.0.0.1",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"principalId": CLAIMS["client_id"], "clientId": CLAIMS["client_id"]},
        },
        "isBase64Encoded": False,
    }


BUILDERS: Final[dict[str, Callable[[], dict[str, Any]]]] = {
    "api-get": lambda: api_event("GET", SAMPLE_ID),
    "api-post": lambda: api_event("POST", body=sample_purchase()),
    "api-put": lambda: api_event("PUT", SAMPLE_ID, body=sample_purchase()),
    "api-delete": lambda: api_event("DELETE", SAMPLE_ID),
    "sqs-write": sqs_write_event,
    "stream-change": stream_change_event,
    "ws-connect": ws_connect_event,
}
# Which function each kind is for (the `function` to give `invoke call`).
FOR_FUNCTION: Final = {
    "api-get": "reader",
    "api-post": "sender",
    "api-put": "sender",
    "api-delete": "sender",
    "sqs-write": "writer",
    "stream-change": "notifier",
    "ws-connect": "connections",
}


def sample_event(kind: str) -> dict[str, Any]:
    try:
        build = BUILDERS[kind]
    except KeyError:
        raise ToolingError(f"Unknown event kind {kind!r}: choose one of {', '.join(BUILDERS)}.") from None
    return build()
