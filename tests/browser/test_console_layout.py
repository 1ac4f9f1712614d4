"""The console fits the screen: at common desktop widths the purchases table does not scroll sideways and every
row's actions are fully visible, even for a purchase whose texts are long; the empty live-activity note uses its
panel's width."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from .test_console import _create, _readable

# Long enough to overflow any column, within the API's 64-character limits; no spaces to wrap at.
LONG = "a-very-long-text-with-no-spaces-to-break-it-at-any-point-at-all"


@pytest.fixture(params=[1280, 1920], ids=lambda width: f"{width}px")
def page_at_width(request: pytest.FixtureRequest, browser: Browser, console_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": request.param, "height": 1000})
    page = context.new_page()
    page.goto(console_url)
    page.wait_for_selector("body[data-ready='1']")
    yield page
    context.close()


def test_every_rows_actions_are_visible_without_scrolling_sideways(
    page_at_width: Page, outputs: dict[str, Any], token: str
) -> None:
    # Given a purchase whose product and customer texts are long
    purchase_id = _create(
        outputs,
        token,
        ProductName=LONG,
        ProductDescription=LONG,
        CustomerName=LONG,
        CustomerId=LONG,
    )
    _readable(outputs, token, purchase_id)

    # When the console, open before it was created, shows it (pushed to it as it is created: on a busy stack the
    # list's first page need not hold a new purchase, so it is not re-read)
    page = page_at_width
    # Then the table does not scroll sideways, and every row's buttons lie inside the table's visible box, measured
    # while the purchase's row is on the page
    layout = None
    deadline = time.monotonic() + 30
    while layout is None and time.monotonic() < deadline:
        page.wait_for_selector(f"#rows tr[data-id='{purchase_id}']", timeout=30_000)
        layout = page.evaluate(
            """(purchaseId) => {
          if (!document.querySelector(`#rows tr[data-id='${purchaseId}']`)) return null;
          const wrap = document.querySelector('.table-wrap');
          const box = wrap.getBoundingClientRect();
          const rows = [...document.querySelectorAll('#rows tr[data-id]')].map(row => ({
            id: row.dataset.id,
            buttons: [...row.querySelectorAll('td.actions-col button')].map(button => {
              const r = button.getBoundingClientRect();
              return {text: button.textContent, left: r.left, right: r.right, width: r.width};
            }),
          }));
          return {scrollWidth: wrap.scrollWidth, clientWidth: wrap.clientWidth, left: box.left,
                  right: box.right, viewport: window.innerWidth,
                  page: document.documentElement.scrollWidth, rows};
        }""",
            purchase_id,
        )
    assert layout is not None, "the purchase's row never stayed on the page long enough to be measured"
    assert layout["scrollWidth"] <= layout["clientWidth"], layout
    assert layout["page"] <= layout["viewport"], layout
    assert purchase_id in [row["id"] for row in layout["rows"]]
    for row in layout["rows"]:
        assert [button["text"] for button in row["buttons"]] == ["Edit", "Delete"], row
        for button in row["buttons"]:
            assert button["width"] > 0, row
            assert layout["left"] <= button["left"] and button["right"] <= layout["right"], (row, layout)


def test_the_empty_live_activity_note_spans_its_panel(page_at_width: Page) -> None:
    # Given an activity list with only its empty note (a copy beside the page's own, which a pushed change may
    # replace at any moment)
    widths = page_at_width.evaluate(
        """() => {
          const feed = document.getElementById('feed');
          const copy = document.createElement('ol');
          copy.className = 'feed';
          const note = document.createElement('li');
          note.className = 'none';
          note.textContent = 'Changes appear here the moment they are applied.';
          copy.append(note);
          feed.after(copy);
          const range = document.createRange();
          range.selectNodeContents(note);
          const result = {text: range.getBoundingClientRect().width, list: copy.clientWidth};
          copy.remove();
          return result;
        }"""
    )
    # Then its text is laid out across the list, not in a narrow column
    assert widths["text"] > widths["list"] / 2, widths
