"""Write messages built with the service's own encoder, to put straight on the queue (or the DLQ).

The message format has one definition, `purchases.messages` in the handlers; the tests never restate it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from purchases.messages import WriteAction, WriteMessage, encode_message
from purchases.rules import parse_purchase

from .support import unique_token


def stamp_after(offset_ms: int, base_ns: int | None = None) -> int:
    """A stamp `offset_ms` after `base_ns` (default: now), as the sender would assign at acceptance."""
    return (base_ns if base_ns is not None else time.time_ns()) + offset_ms * 1_000_000


def write_message(
    action: str,
    purchase_id: str,
    stamp: int,
    purchase: dict[str, Any] | None = None,
    correlation_id: str | None = None,
    *,
    owner: str,
) -> str:
    """The SQS body the sender would have queued for this write by `owner` (the client whose purchase it is, and
    the one that sent it: `Api.client_id()` for the suite's own client)."""
    body: str = encode_message(
        WriteMessage(
            action=WriteAction(action),
            purchase_id=purchase_id,
            purchase=parse_purchase(purchase) if purchase is not None else None,
            stamp=stamp,
            correlation_id=correlation_id or f"e2e-{unique_token()}",
            client_id=owner,
            owner=owner,
        )
    )
    return body


def new_id() -> str:
    return str(uuid.uuid4())
