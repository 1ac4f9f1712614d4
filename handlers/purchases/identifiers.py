"""Purchase ids: parsing ids from paths and deriving ids from idempotency keys."""

from __future__ import annotations

import uuid
from typing import Final

# Fixed forever: changing it would give every existing idempotency key a different purchase id.
IDEMPOTENCY_NAMESPACE: Final = uuid.UUID("6f1c5e0a-3b7d-5d2e-9a44-8c1f0b7e2d93")
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 128


class InvalidIdempotencyKey(ValueError):
    """The Idempotency-Key header is empty, too long or holds non-printable characters."""


def parse_purchase_id(raw: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of `raw`, or None when it is not a UUID."""
    # uuid.UUID also accepts braces, URNs and missing hyphens; only the form the service hands
    # out is an id, so every purchase has exactly one URL.
    if len(raw) != 36:
        return None
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        return None
    canonical = str(parsed)
    return canonical if canonical == raw.lower() else None


def new_purchase_id() -> str:
    return str(uuid.uuid4())


def check_idempotency_key(key: str) -> str:
    """`key` when it is an acceptable Idempotency-Key; raises `InvalidIdempotencyKey`."""
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters"
        )
    return key


def purchase_id_for_idempotency_key(key: str, client_id: str) -> str:
    """The id a create with this Idempotency-Key from this client gets, the same on every retry.

    A key is scoped to the client that sent it (IETF Idempotency-Key draft): two clients choosing the same key
    get two purchases. The newline cannot occur in either part (client ids are word characters, keys printable).
    """
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{client_id}\n{check_idempotency_key(key)}"))
