"""Who may see and change a purchase: its owner (the client that created it), or a caller with the admin scope.

The owner is fixed at create and kept by every later write, an administrator's included, and by the tombstone. A
purchase the caller may not see is answered exactly like one that does not exist (404), so a caller cannot learn
which ids other callers hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

# The OAuth scope (template: PurchasesResourceServer) that sees and changes every caller's purchases.
ADMIN_SCOPE: Final = "purchases/admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated client of a request, as the API's authorizer vouched for it."""

    client_id: str
    admin: bool = False

    @classmethod
    def from_claims(cls, client_id: str, scopes: Iterable[str]) -> Caller:
        return cls(client_id=client_id, admin=ADMIN_SCOPE in set(scopes))


def may_access(caller: Caller, owner: str | None) -> bool:
    """Whether `caller` may read or change a purchase owned by `owner` (None: a purchase nobody owns yet)."""
    return caller.admin or (owner is not None and owner == caller.client_id)
