"""Which write wins when messages for one purchase arrive out of order, twice, or both.

The queue is a standard queue: it may deliver late, reorder and duplicate. Every write carries the
stamp taken when the API accepted it, and the table keeps the stamp of the write that produced each
item (`Version`). The rules, which the DynamoDB adapter enforces as condition expressions:

- create: only if the item does not exist. A redelivered create, or one overtaken by an update,
  changes nothing; a tombstone blocks it too.
- update: if the item does not exist (it overtook its create), or if it is live and older than the
  update. An older or redelivered update changes nothing.
- delete: replaces the item with a tombstone unless it already is one. A delete is terminal: no
  later-arriving create or update can bring the purchase back.
- ownership: an update or delete of an existing item applies only when the message's owner is the item's owner
  (`purchases.ownership`): whatever the sender checked, a write for someone else's purchase changes nothing.
"""

from __future__ import annotations

from purchases.messages import WriteAction, WriteMessage
from purchases.ports import StoredPurchase


def should_apply(existing: StoredPurchase | None, message: WriteMessage) -> bool:
    if message.action is WriteAction.CREATE:
        return existing is None
    if existing is None:
        return True
    if existing.deleted or existing.owner != message.owner:
        return False
    return message.action is WriteAction.DELETE or existing.version < message.stamp
