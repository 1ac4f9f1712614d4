"""The console shows a purchase's journey through the stack (`invoke trace`) as a waterfall when it is clicked:
one bar per step, from the API request to the push that reached the console itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS
from .test_console import PUSH_DEADLINE_MS, _create

# The journey's later steps reach the logs after the change is pushed (seconds later on AWS).
JOURNEY_DEADLINE_MS = 40_000
STEPS = ["API request", "sender", "queue wait", "writer", "table change", "stream", "notifier", "push"]


def test_clicking_a_purchase_shows_its_journey_as_a_waterfall(
    open_console: Callable[[], Page], outputs: dict[str, Any], token: str
) -> None:
    # Given an open console, and a purchase created through the API that appears in it live
    page = open_console()
    purchase_id = _create(outputs, token, ProductName="Traced belt")
    row = page.locator(f'#rows tr[data-id="{purchase_id}"]')
    expect(row).to_be_visible(timeout=PUSH_DEADLINE_MS)
    # When the purchase is clicked
    row.locator("td").first.click()
    # Then its journey shows every step of the write as a bar on one time line, the push to this console included
    expect(page.locator("#journey-id")).to_have_text(purchase_id)
    for step in STEPS:
        expect(page.locator(f'#journeys .step[data-step="{step}"]').first).to_be_visible(
            timeout=JOURNEY_DEADLINE_MS
        )
    expect(page.locator("#journey")).to_have_attribute("data-ready", "1")
    widths = page.eval_on_selector_all(
        "#journeys .bar", "bars => bars.map(b => b.getBoundingClientRect().width)"
    )
    assert len(widths) >= len(STEPS) and all(width > 0 for width in widths)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#journey").screenshot(path=str(ARTIFACTS / "console-journey.png"))
