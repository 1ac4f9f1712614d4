"""The web console in a real Chromium: it lists the purchases with paging, shows a change made in another open
page without reloading (pushed over the WebSocket, not polled), shows the API's field errors inline, and removes
a deleted purchase live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2e.support import make_purchase, unique_token
from playwright.sync_api import Page, expect

from devkit.core.http import call

from .conftest import ARTIFACTS

PUSH_DEADLINE_MS = 20_000


def _create(outputs: dict[str, Any], token: str, **overrides: Any) -> str:
    reply = call(
        "POST",
        str(outputs["ProductPurchaseApi"]).rstrip("/"),
        make_purchase(**overrides),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status == 202, reply.body[:300]
    purchase_id: str = reply.json()["ProductPurchaseId"]
    return purchase_id


def _readable(outputs: dict[str, Any], token: str, purchase_id: str) -> None:
    from e2e.support import eventually

    url = f"{str(outputs['ProductPurchaseApi']).rstrip('/')}/{purchase_id}"
    eventually(
        lambda: call("GET", url, headers={"Authorization": f"Bearer {token}"}).status == 200,
        f"purchase {purchase_id} to be readable",
    )


def _all_ids(page: Page) -> set[str]:
    """Every purchase id the console lists, following its pager to the last page."""
    seen: set[str] = set()
    while True:
        seen |= set(page.eval_on_selector_all("#rows tr[data-id]", "rows => rows.map(r => r.dataset.id)"))
        if page.is_disabled("#next"):
            return seen
        label = page.inner_text("#page-label")
        page.click("#next")
        expect(page.locator("#page-label")).not_to_have_text(label)


def _track_purchase_requests(page: Page) -> list[str]:
    requests: list[str] = []
    page.on(
        "request", lambda request: requests.append(request.url) if "/api/purchases" in request.url else None
    )
    return requests


def test_the_console_lists_the_seeded_purchases(
    open_console: Callable[[], Page], outputs: dict[str, Any], token: str
) -> None:
    # Given three purchases in the table
    seeded = [_create(outputs, token, ProductName=f"Seeded {n}") for n in range(3)]
    for purchase_id in seeded:
        _readable(outputs, token, purchase_id)
    # When the console opens
    page = open_console()
    # Then its pages list all of them
    assert set(seeded) <= _all_ids(page)


def test_a_purchase_created_in_one_page_appears_in_another_without_reload(
    open_console: Callable[[], Page],
) -> None:
    # Given two open consoles, the second marked so a reload would be noticed
    author, watcher = open_console(), open_console()
    watcher.evaluate("window.__notReloaded = true")
    polled = _track_purchase_requests(watcher)
    name = f"Browser belt {unique_token()[:6]}"

    # When a purchase is created through the first one's form
    author.fill("#f-ProductName", name)
    author.fill("#f-ProductId", "sku-browser")
    author.fill("#f-Category", "Accessories")
    author.fill("#f-PricePerUnit", "12.5")
    author.fill("#f-Quantity", "2")
    author.fill("#f-CustomerName", "Ada Browser")
    author.fill("#f-CustomerId", "cust-browser")
    author.click("#save")

    # Then the second shows it, pushed: no reload and no request for the list
    row = watcher.locator("#rows tr", has_text=name)
    expect(row).to_have_count(1, timeout=PUSH_DEADLINE_MS)
    expect(row).to_contain_text("25.00")
    assert watcher.evaluate("window.__notReloaded") is True
    assert polled == [], polled
    # And the author's form is ready for the next one
    expect(author.locator("#f-ProductName")).to_have_value("")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    watcher.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)


def test_an_invalid_purchase_shows_the_api_field_errors_inline(open_console: Callable[[], Page]) -> None:
    page = open_console()
    # When the form is sent with a negative price, a word for a quantity and no customer name
    page.fill("#f-ProductName", "Broken belt")
    page.fill("#f-ProductId", "sku-broken")
    page.fill("#f-Category", "Accessories")
    page.fill("#f-PricePerUnit", "-3")
    page.fill("#f-Quantity", "a few")
    page.fill("#f-CustomerId", "cust-broken")
    page.click("#save")
    # Then each of those fields shows the API's own message, and only those
    for field in ("PricePerUnit", "Quantity", "CustomerName"):
        box = page.locator(f'.field[data-field="{field}"]')
        expect(box).to_have_class("field invalid")
        expect(box.locator(".error")).not_to_be_empty()
    expect(page.locator(".field.invalid")).to_have_count(3)
    # And what was typed is kept for correcting
    expect(page.locator("#f-ProductName")).to_have_value("Broken belt")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console-errors.png"))


def test_a_deleted_purchase_leaves_every_open_page(
    open_console: Callable[[], Page], outputs: dict[str, Any], token: str
) -> None:
    # Given two open consoles that both show a new purchase (pushed to them as it is created)
    author, watcher = open_console(), open_console()
    name = f"Doomed belt {unique_token()[:6]}"
    purchase_id = _create(outputs, token, ProductName=name)
    for page in (author, watcher):
        expect(page.locator(f'#rows tr[data-id="{purchase_id}"]')).to_have_count(1, timeout=PUSH_DEADLINE_MS)
    polled = _track_purchase_requests(watcher)

    # When the first one deletes it (Delete, then Confirm)
    row = author.locator(f'#rows tr[data-id="{purchase_id}"]')
    row.locator("button[data-action='delete']").click()
    row.locator("button[data-action='delete']").click()

    # Then the row disappears from both, live
    for page in (author, watcher):
        expect(page.locator(f'#rows tr[data-id="{purchase_id}"]')).to_have_count(0, timeout=PUSH_DEADLINE_MS)
    assert polled == [], polled
    # And the activity feed names the delete
    expect(watcher.locator("#feed li .kind.deleted").first).to_be_visible()


def test_the_console_key_leaves_the_address_bar_and_travels_only_as_a_header(
    open_console: Callable[[], Page], console_url: str
) -> None:
    # Given the console opened with the URL `invoke console` prints (it carries the run's key)
    assert "?key=" in console_url
    page = open_console()
    # Then the key is no longer in the address bar (history, screenshots)
    assert "key=" not in page.url
    # And the page's calls carry it as a header, so a reload in the same tab still works
    with page.expect_request(lambda request: "/api/purchases" in request.url) as sent:
        page.reload()
        page.wait_for_selector("body[data-ready='1']")
    request = sent.value
    assert request.headers.get("x-console-key") and "key=" not in request.url
    # While a page opened without the key gets nothing from the API
    anonymous = page.context.new_page()
    reply = anonymous.request.get(console_url.split("?")[0] + "api/info")
    assert reply.status == 401
