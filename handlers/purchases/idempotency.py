"""Idempotency-Key on POST, as the IETF `Idempotency-Key` header draft describes it, with Powertools' idempotency
utility doing the bookkeeping (one record per client and key, in the idempotency table).

- A key is scoped to the client that sent it: the record's key hashes (client id, Idempotency-Key).
- The same key with the same purchase replays the first answer (same ProductPurchaseId and messageId).
- The same key with a different purchase is refused (422) and queues nothing: Powertools' payload validation
  compares a hash of the normalized purchase, so key order, spacing or "10" vs 10 make no difference.
- A duplicate while the first request is still running is refused (409): the record is INPROGRESS.
- Records live `KEY_LIFETIME_SECONDS` (the draft suggests at least 24 hours).

This module holds only the rules (no AWS client); the sender wires them to the DynamoDB persistence layer.
"""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

from purchases.identifiers import check_idempotency_key
from purchases.model import Purchase

KEY_LIFETIME_SECONDS: Final = 24 * 60 * 60
# Fixed, rather than derived from the function's name as Powertools does by default: a renamed function or a new
# stack must not turn every stored key into an unknown one.
KEY_PREFIX: Final = "product-purchase.create"


def idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[client, key]",
        payload_validation_jmespath="purchase",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=KEY_LIFETIME_SECONDS,
    )


def idempotent_request(client_id: str, key: str, purchase: Purchase) -> dict[str, Any]:
    """What Powertools hashes: the key's scope (client and key) and, for validation, the purchase as queued.

    Raises `InvalidIdempotencyKey` for a key the service does not accept.
    """
    return {"client": client_id, "key": check_idempotency_key(key), "purchase": purchase.to_wire()}
