"""A standard queue reorders and duplicates: whatever order writes arrive in, the newest accepted write wins and
a delete is final. The messages go straight onto the queue, in the worst order, built by the service's encoder and
signed as the sender signs them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .messages import new_id, stamp_after, write_message
from .support import BOOKKEEPING_FIELDS, Api, Stack, same_purchase


def test_reordered_and_duplicated_writes_leave_the_newest_state(
    api: Api, quiet_queue: Stack, new_purchase: Callable[..., dict[str, Any]]
) -> None:
    # Given two purchases created through the API
    owner = api.client_id()
    updated_id, _ = api.create_readable()
    deleted_id, _ = api.create_readable()
    # And two ids the API never saw
    overtaken_create_id, overtaken_by_delete_id = new_id(), new_id()
    base = stamp_after(0)
    newest, older = new_purchase(ProductName="Newest"), new_purchase(ProductName="Older")
    late = new_purchase(ProductName="Late update")
    early = new_purchase(ProductName="Update that overtook its create")
    first = new_purchase(ProductName="Create that arrived second")

    # When their writes reach the queue out of order and twice
    # (one right after the other, so the writer sees them in exactly this order, mostly in the same batches)
    quiet_queue.queue_writes(
        [
            # the newer update first, then an older one, then the newer one again
            write_message("update", updated_id, stamp_after(2000, base), newest, owner=owner),
            write_message("update", updated_id, stamp_after(1000, base), older, owner=owner),
            write_message("update", updated_id, stamp_after(2000, base), newest, owner=owner),
            # a delete, then an older update, a create, a newer update, and the delete again
            write_message("delete", deleted_id, stamp_after(3000, base), owner=owner),
            write_message("update", deleted_id, stamp_after(1000, base), older, owner=owner),
            write_message("create", deleted_id, stamp_after(500, base), older, owner=owner),
            write_message("update", deleted_id, stamp_after(5000, base), late, owner=owner),
            write_message("delete", deleted_id, stamp_after(3000, base), owner=owner),
            # an update that overtook its create
            write_message("update", overtaken_create_id, stamp_after(2000, base), early, owner=owner),
            write_message("create", overtaken_create_id, stamp_after(1000, base), first, owner=owner),
            # a delete that overtook its create
            write_message("delete", overtaken_by_delete_id, stamp_after(2000, base), owner=owner),
            write_message("create", overtaken_by_delete_id, stamp_after(1000, base), first, owner=owner),
            write_message("create", overtaken_by_delete_id, stamp_after(1000, base), first, owner=owner),
        ],
    )

    # Then every message is consumed (none fails and lingers)
    quiet_queue.wait_queue_empty(what="the reordered writes to be applied")

    # And each purchase is in the state of its newest write
    current = api.readable(updated_id)
    assert same_purchase(current, newest), current
    assert not BOOKKEEPING_FIELDS & current.keys()
    assert quiet_queue.raw_item(updated_id)["Version"] == stamp_after(2000, base)  # type: ignore[index]
    overtaken = api.readable(overtaken_create_id)
    assert same_purchase(overtaken, early), overtaken

    # And the deleted ones stay deleted: tombstones that no older or later write brought back
    for gone_id in (deleted_id, overtaken_by_delete_id):
        assert api.get(gone_id).status == 404
        tombstone = quiet_queue.raw_item(gone_id)
        assert tombstone is not None and tombstone.get("Deleted"), tombstone
    gone_ids = {deleted_id, overtaken_by_delete_id}
    api.listed_when(lambda ids: not gone_ids & set(ids), "the deleted purchases to leave the list")
