"""Origin and integrity of write messages: the sender signs each body it queues, the writer applies only bodies
whose signature verifies.

The signature is an HMAC made by KMS with a key only the sender's role may `GenerateMac` with and only the writer's
role may `VerifyMac` with (template.yaml, `WriteSigningKey`), so a message is applied only when the sender
queued exactly that body: a principal that can put messages on the queue (an operator, a deploy role, a redrive)
cannot forge or alter one.

What is MACed is `MAC_CONTEXT` followed by the SHA-256 digest of the body's UTF-8 bytes: a fixed 50 bytes whatever
the body's size (KMS MACs at most 4,096 bytes per call), and as strong as a MAC of the body itself, since SHA-256
is collision resistant. The MAC travels beside the body, base64, in the SQS message attribute `MAC_ATTRIBUTE`:
the body keeps its format, and a DLQ redrive (SQS's message move task, or `invoke dlq --redrive`) keeps the
attribute, so a redriven message verifies again.

A valid message can be queued again by whoever can send to the queue (a replay); the writer's conditional writes
make a replay a no-op (`purchases.ordering`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any, Final

# The SQS message attribute that carries the body's MAC (base64).
MAC_ATTRIBUTE: Final = "PurchaseWriteMac"
# What the key MACs: this context, then the body's digest. The context keeps the key's MACs of write messages apart
# from anything else it might ever be asked to MAC.
MAC_CONTEXT: Final = b"product-purchase write message v1\n"
# HMAC-SHA-256 MACs are 32 bytes.
MAC_LENGTH: Final = 32


class UnverifiedMessage(ValueError):
    """A queued body whose MAC is missing, malformed or wrong: not the sender's, or changed since; never applied."""


def mac_input(body: str) -> bytes:
    """The bytes the key MACs for `body`."""
    return MAC_CONTEXT + hashlib.sha256(body.encode("utf-8")).digest()


def mac_attribute(mac: bytes) -> dict[str, dict[str, str]]:
    """The `MessageAttributes` of SendMessage (and of a SendMessageBatch entry) that carry `mac`."""
    return {MAC_ATTRIBUTE: {"DataType": "String", "StringValue": base64.b64encode(mac).decode("ascii")}}


def record_mac(message_attributes: Mapping[str, Any] | None) -> bytes:
    """The MAC a queue record carries (the Lambda SQS event's `messageAttributes`); raises `UnverifiedMessage`
    when there is none or it is not a MAC's worth of base64."""
    attribute = (message_attributes or {}).get(MAC_ATTRIBUTE)
    value = attribute.get("stringValue") if isinstance(attribute, Mapping) else None
    if not isinstance(value, str) or not value:
        raise UnverifiedMessage("message carries no MAC")
    try:
        mac = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise UnverifiedMessage("message MAC is not base64") from None
    if len(mac) != MAC_LENGTH:
        raise UnverifiedMessage("message MAC has the wrong length")
    return mac
