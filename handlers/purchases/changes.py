"""What a change to the purchase table means to a client: the change-feed message of the notifications.

One applied write = one item image before and after it (the table's stream). A tombstone is a delete, the expiry
of a tombstone is nothing new, and only the public fields (the same allow-list a read uses) ever leave.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

from purchases import jsonenc
from purchases.schema import ID_FIELD, PUBLIC_FIELDS

# The item attributes that mark a tombstone and name the purchase's owner, the app client that created it (see
# `purchases.adapters.dynamodb`, whose constants a unit test compares with these). Both images carry the owner.
_DELETED: Final = "Deleted"
OWNER: Final = "ClientId"
# The stamp of the write that produced an image: what ties a change to its write message (`invoke trace`).
VERSION: Final = "Version"

Image = Mapping[str, Any]


class ChangeType(enum.StrEnum):
    CREATED = "purchase.created"
    UPDATED = "purchase.updated"
    DELETED = "purchase.deleted"


def _is_live(image: Image | None) -> bool:
    return image is not None and not image.get(_DELETED, False)


def change_type(old: Image | None, new: Image | None) -> ChangeType | None:
    """The change from `old` to `new` as a client sees it; None when nothing visible changed."""
    if _is_live(new):
        return ChangeType.UPDATED if _is_live(old) else ChangeType.CREATED
    if _is_live(old) or (old is None and new is not None):
        # A live purchase turned tombstone, or a delete that overtook its create (a tombstone with no past).
        return ChangeType.DELETED
    # A tombstone replaced or expired by TTL: the purchase was already deleted.
    return None


def notification(old: Image | None, new: Image | None) -> dict[str, Any] | None:
    """The message clients receive for this change, or None when there is nothing to tell."""
    kind = change_type(old, new)
    if kind is None:
        return None
    image = new if new is not None else old
    assert image is not None  # change_type returns None when both are
    message: dict[str, Any] = {"type": kind.value, ID_FIELD: str(image[ID_FIELD])}
    if kind is not ChangeType.DELETED:
        assert new is not None
        message["purchase"] = {name: new[name] for name in PUBLIC_FIELDS if name in new}
    return message


def owner(old: Image | None, new: Image | None) -> str | None:
    """The app client that owns the changed purchase; None for an item written before purchases had owners."""
    for image in (new, old):
        if image is not None and isinstance(image.get(OWNER), str) and image[OWNER]:
            return str(image[OWNER])
    return None


def encode_notification(message: Mapping[str, Any]) -> bytes:
    """JSON with numbers exactly as stored (no float rounding), as the API answers."""
    return jsonenc.dumps(message).encode()


def version(old: Image | None, new: Image | None) -> int | None:
    """The stamp of the write behind the change (the new image's, or the removed one's)."""
    for image in (new, old):
        if image is not None and image.get(VERSION) is not None:
            return int(image[VERSION])
    return None
