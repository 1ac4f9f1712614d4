"""What the sender does with an accepted request: check, stamp, and queue a write message."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from purchases.identifiers import new_purchase_id, purchase_id_for_idempotency_key
from purchases.messages import WriteAction, WriteMessage
from purchases.model import Purchase
from purchases.ownership import Caller, may_access
from purchases.ports import PurchaseStore, RecordHead, RecordState, WriteQueue

Clock = Callable[[], int]
"""Nanoseconds since the epoch; the stamp that orders writes to one purchase."""


class PurchaseNotFound(LookupError):
    """There is no live purchase with that id that the caller may see (never created, deleted, or another
    caller's: the same answer, so ids of other callers' purchases stay secret)."""


class IdempotencyKeyReused(ValueError):
    """The Idempotency-Key's purchase exists (its record has expired) but is not the purchase sent now."""


@dataclass(frozen=True, slots=True)
class Accepted:
    purchase_id: str
    # None when an idempotent retry found its purchase already stored and queued nothing.
    message_id: str | None


class PurchaseCommands:
    def __init__(
        self,
        store: PurchaseStore,
        queue: WriteQueue,
        clock: Clock = time.time_ns,
        new_id: Callable[[], str] = new_purchase_id,
    ) -> None:
        self._store = store
        self._queue = queue
        self._clock = clock
        self._new_id = new_id

    def create(
        self, purchase: Purchase, correlation_id: str, caller: Caller, idempotency_key: str | None = None
    ) -> Accepted:
        """Queue a create of a purchase owned by `caller`; raises `InvalidIdempotencyKey`, and
        `IdempotencyKeyReused` when the key's purchase exists and is a different one."""
        if idempotency_key is None:
            purchase_id = self._new_id()
        else:
            purchase_id = purchase_id_for_idempotency_key(idempotency_key, caller.client_id)
            # Reached only when the key's record is gone (it lives 24 h): the id is the key's, so a stored
            # purchase is this key's earlier create. The same purchase is a late retry, answered as the record
            # would have; anything else (another purchase, one since changed, or a tombstone) is the key reused.
            head = self._store.head(purchase_id)
            if head.state is RecordState.LIVE and head.digest == purchase.digest():
                return Accepted(purchase_id=purchase_id, message_id=None)
            if head.state is not RecordState.ABSENT:
                raise IdempotencyKeyReused(purchase_id)
        # A retry racing its first attempt (not stored yet) queues a second create; the writer's
        # create-if-absent makes that harmless.
        return self._enqueue(
            WriteAction.CREATE, purchase_id, purchase, correlation_id, caller, caller.client_id
        )

    def replace(self, purchase_id: str, purchase: Purchase, correlation_id: str, caller: Caller) -> Accepted:
        """Queue an update of a live purchase `caller` may change; raises `PurchaseNotFound`."""
        head = self._require_accessible(purchase_id, caller)
        return self._enqueue(WriteAction.UPDATE, purchase_id, purchase, correlation_id, caller, head.owner)

    def delete(self, purchase_id: str, correlation_id: str, caller: Caller) -> Accepted:
        """Queue the deletion of a live purchase `caller` may change; raises `PurchaseNotFound`."""
        head = self._require_accessible(purchase_id, caller)
        return self._enqueue(WriteAction.DELETE, purchase_id, None, correlation_id, caller, head.owner)

    def _require_accessible(self, purchase_id: str, caller: Caller) -> RecordHead:
        head = self._store.head(purchase_id)
        if head.state is not RecordState.LIVE or not may_access(caller, head.owner):
            raise PurchaseNotFound(purchase_id)
        return head

    def _enqueue(
        self,
        action: WriteAction,
        purchase_id: str,
        purchase: Purchase | None,
        correlation_id: str,
        caller: Caller,
        owner: str | None,
    ) -> Accepted:
        # The message carries the owner this check saw: the writer applies it only to a purchase that still has
        # that owner, and keeps it (an administrator's write never changes whose purchase it is).
        message = WriteMessage(
            action=action,
            purchase_id=purchase_id,
            purchase=purchase,
            stamp=self._clock(),
            correlation_id=correlation_id,
            client_id=caller.client_id,
            owner=owner,
        )
        return Accepted(purchase_id=purchase_id, message_id=self._queue.enqueue_write(message))
