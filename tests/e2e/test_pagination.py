"""Pagination: following `Link: rel="next"` visits every purchase exactly once."""

from __future__ import annotations

import json
from collections import Counter

from .support import Api, make_purchase, next_link

SMALLEST_LIMIT = 3
CREATED = 2 * SMALLEST_LIMIT + 1
# A stack that has lived a while (a soak run leaves 10,000 purchases) is still walked in about this many pages.
MOST_PAGES = 25


def test_following_next_links_visits_every_purchase_once(api: Api) -> None:
    # Given more purchases than fit on one page (created together, so the writer applies them side by side)
    created = {api.accept(make_purchase()) for _ in range(CREATED)}
    for purchase_id in created:
        api.readable(purchase_id)
    total = len(api.all_ids())
    limit = max(SMALLEST_LIMIT, -(-total // MOST_PAGES))
    assert total > 2 * limit

    # When the list is read page by page with that limit until no next link is left
    seen: Counter[str] = Counter()
    pages = 0
    for page in api.pages(limit):
        items = page.json()
        assert isinstance(items, list)
        assert len(items) <= limit
        # A next link on an empty page would send clients round in circles on a table full of tombstones
        if next_link(page) is not None:
            assert items, "a page with a next link is empty"
        seen.update(item["ProductPurchaseId"] for item in items)
        pages += 1

    # Then every purchase created here was seen exactly once, over several pages, and no id repeats at all
    assert pages >= 3
    assert all(seen[purchase_id] == 1 for purchase_id in created), {i: seen[i] for i in created}
    repeated = [purchase_id for purchase_id, count in seen.items() if count > 1]
    assert not repeated, repeated


def test_the_last_page_has_no_next_link_and_the_link_keeps_the_limit(api: Api) -> None:
    # Given at least two purchases
    api.create_readable()
    api.create_readable()
    # When the first page of size 1 is read
    first = api.list_page("limit=1")
    # Then it holds one purchase and links to the next page with the same limit
    assert first.status == 200
    assert len(first.json()) == 1
    target = next_link(first)
    assert target is not None, first.headers
    assert "limit=1" in target
    # And a page as large as the whole list has no next link
    everything = list(api.pages(100))
    assert next_link(everything[-1]) is None
    assert isinstance(json.loads(everything[-1].body), list)
