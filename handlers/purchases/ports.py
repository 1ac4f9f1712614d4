"""What the handlers need from the outside world, as small Protocols.

AWS implementations live in `purchases.adapters`; unit tests use in-memory ones.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from purchases.messages import WriteMessage
    from purchases.model import AttributeValue


class InvalidCursor(ValueError):
    """A pagination cursor this service did not hand out (or that has been tampered with)."""


class WriteOutcome(enum.Enum):
    APPLIED = "applied"
    # Already applied (a redelivery) or overtaken by a newer write or a delete: not an error.
    SUPERSEDED = "superseded"


class RecordState(enum.Enum):
    ABSENT = "absent"
    LIVE = "live"
    # A tombstone: the purchase existed and was deleted.
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class StoredPurchase:
    purchase_id: str
    # Public fields only (ProductPurchaseId and the purchase); bookkeeping is never exposed.
    attributes: Mapping[str, AttributeValue]
    version: int
    deleted: bool
    # The client that created the purchase (`purchases.ownership`); None for one stored before owners were kept.
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class RecordHead:
    """What the sender's checks read of a record: never the purchase itself."""

    state: RecordState
    owner: str | None = None
    # `Purchase.digest()` of the live purchase; None for a tombstone or one stored before digests were kept.
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Mapping[str, AttributeValue]]
    next_cursor: str | None


class PurchaseStore(Protocol):
    def get(self, purchase_id: str) -> StoredPurchase | None:
        """The record for `purchase_id`, tombstones included; None when there never was one."""
        ...

    def head(self, purchase_id: str) -> RecordHead:
        """Whether `purchase_id` is live, deleted or absent, its owner and digest, reading nothing of the
        purchase itself."""
        ...

    def page(self, limit: int, cursor: str | None) -> Page:
        """At most `limit` live purchases of every owner after `cursor`, with a fixed amount of work whatever the
        table holds (so possibly fewer, with a next cursor); raises `InvalidCursor`."""
        ...

    def owned_page(self, owner: str, limit: int, cursor: str | None) -> Page:
        """Like `page`, but only `owner`'s live purchases, at the same cost however many other owners'
        purchases the table holds; raises `InvalidCursor`."""
        ...

    def apply_write(self, message: WriteMessage) -> WriteOutcome:
        """Apply `message` if the ordering rules (`purchases.ordering`) allow it."""
        ...


class WriteQueue(Protocol):
    def enqueue_write(self, message: WriteMessage) -> str:
        """Queue `message` for the writer; returns the queue's message id."""
        ...


class MessageSigner(Protocol):
    def sign(self, body: str) -> bytes:
        """The MAC of `body` (`purchases.signing.mac_input`), made with the write-signing key."""
        ...


class MessageVerifier(Protocol):
    def verify(self, body: str, mac: bytes) -> bool:
        """Whether `mac` is the write-signing key's MAC of `body`; False for a wrong MAC. Raises when the
        verification itself could not be made (the service failed), so that the message is tried again."""
        ...
