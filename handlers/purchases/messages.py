"""Write messages: what the sender puts on the queue and the writer applies to the table.

Wire form (the SQS message body, JSON):
    {"action": "create"|"update"|"delete", "id": "<uuid>", "purchase": {...} | null,
     "stamp": <int ns since epoch at acceptance>, "correlationId": "<API request id>",
     "clientId": "<OAuth client that sent the request>" | null,
     "owner": "<OAuth client that owns the purchase>" | null}
`clientId` may be absent: messages queued before it existed are still applied. `owner` is whose purchase the
write is for: the caller for a create and for a caller's own update or delete, the stored owner for an
administrator's; the writer applies an update or delete only to a purchase with that owner, and keeps it. Absent
(a message queued before owners were kept), it is `clientId`: the caller changes only its own purchases.
`purchase` carries the normalized purchase with numbers as exact decimal strings, so no float
ever reaches DynamoDB; it is null for deletes.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Final

from purchases.identifiers import parse_purchase_id
from purchases.model import Purchase
from purchases.rules import InvalidPurchase, parse_purchase

_FIELDS: Final = frozenset({"action", "id", "purchase", "stamp", "correlationId"})
_OPTIONAL_FIELDS: Final = frozenset({"clientId", "owner"})
_MAX_CORRELATION_ID_LENGTH: Final = 256
# Cognito app client ids are at most 128 characters.
MAX_CLIENT_ID_LENGTH: Final = 128


class WriteAction(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class MalformedMessage(ValueError):
    """A queue message the writer cannot apply; the text never quotes the message's content."""

    def __init__(self, reason: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        # The purchase fields at fault, when the purchase is what the writer refused.
        self.fields = fields


class UndeliverableMessage(ValueError):
    """The writer's decoder would refuse this message: it must not be queued."""

    def __init__(self, refused: MalformedMessage) -> None:
        super().__init__(f"the writer would refuse this message: {refused}")
        self.fields = refused.fields


@dataclass(frozen=True, slots=True)
class WriteMessage:
    action: WriteAction
    purchase_id: str
    purchase: Purchase | None
    stamp: int
    correlation_id: str
    # Who asked for the write (the token's client_id): bookkeeping, logged, never served.
    client_id: str | None = None
    # Whose purchase it is (stored as the item's owner, never served); see the module's docstring.
    owner: str | None = None

    def __post_init__(self) -> None:
        if (self.purchase is None) != (self.action is WriteAction.DELETE):
            raise ValueError("create and update messages carry a purchase; delete messages do not")


def encode_message(message: WriteMessage) -> str:
    return json.dumps(
        {
            "action": message.action.value,
            "id": message.purchase_id,
            "purchase": message.purchase.to_wire() if message.purchase is not None else None,
            "stamp": message.stamp,
            "correlationId": message.correlation_id,
            "clientId": message.client_id,
            "owner": message.owner,
        },
        separators=(",", ":"),
    )


def encode_checked(message: WriteMessage) -> str:
    """The exact body to queue for `message`, once the writer's own decoder has accepted it unchanged.

    Whatever the API answers 202 to, the writer must be able to apply: checking the bytes that will travel
    (not the object they came from) catches any gap between the two, e.g. a value the encoder spells in a
    way the decoder refuses. Raises `UndeliverableMessage`."""
    body = encode_message(message)
    try:
        decoded = decode_message(body)
    except MalformedMessage as refused:
        raise UndeliverableMessage(refused) from None
    if decoded != message:
        raise UndeliverableMessage(MalformedMessage("message changes on its way through the queue"))
    return body


def decode_message(body: str) -> WriteMessage:
    """Parse and re-validate a message body; raises `MalformedMessage`."""
    # The queue accepts anything anyone with SendMessage puts on it, so a message is re-checked
    # with the same rules as an API request before it can touch the table.
    try:
        document: Any = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise MalformedMessage("message body is not valid JSON") from None
    if not isinstance(document, dict):
        raise MalformedMessage("message body is not a JSON object")
    if not _FIELDS <= set(document) <= _FIELDS | _OPTIONAL_FIELDS:
        raise MalformedMessage(
            f"message must have exactly the fields {sorted(_FIELDS)} (and optionally {sorted(_OPTIONAL_FIELDS)})"
        )

    try:
        action = WriteAction(document["action"])
    except ValueError:
        raise MalformedMessage("message action is not create, update or delete") from None

    raw_id = document["id"]
    purchase_id = parse_purchase_id(raw_id) if isinstance(raw_id, str) else None
    if purchase_id is None:
        raise MalformedMessage("message id is not a UUID")

    stamp = document["stamp"]
    if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp <= 0:
        raise MalformedMessage("message stamp is not a positive integer")

    correlation_id = document["correlationId"]
    if not isinstance(correlation_id, str) or len(correlation_id) > _MAX_CORRELATION_ID_LENGTH:
        raise MalformedMessage("message correlationId is not a string of at most 256 characters")

    client_id = _client_id(document.get("clientId"), "clientId")
    owner = _client_id(document["owner"], "owner") if "owner" in document else client_id

    raw_purchase = document["purchase"]
    purchase: Purchase | None = None
    if action is WriteAction.DELETE:
        if raw_purchase is not None:
            raise MalformedMessage("a delete message must have a null purchase")
    else:
        try:
            purchase = parse_purchase(raw_purchase)
        except InvalidPurchase as invalid:
            fields = tuple(sorted({error["field"] for error in invalid.errors}))
            raise MalformedMessage(
                f"message purchase is invalid (fields: {', '.join(fields)})", fields
            ) from None

    return WriteMessage(
        action=action,
        purchase_id=purchase_id,
        purchase=purchase,
        stamp=stamp,
        correlation_id=correlation_id,
        client_id=client_id,
        owner=owner,
    )


def _client_id(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CLIENT_ID_LENGTH:
        raise MalformedMessage(f"message {field} is not a string of 1 to {MAX_CLIENT_ID_LENGTH} characters")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
