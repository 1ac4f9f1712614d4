"""Fixtures for the browser tests: the console served for the deployed stack (the same outputs as the e2e suite)
and a real Chromium driven by Playwright. Without a Chromium every test is skipped, saying how to get one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from e2e.conftest import _load_outputs
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from devkit.checks.browser import CHROMIUM_ARGS, find_chromium
from devkit.console.server import ConsoleServer, ConsoleTarget
from devkit.core.project import LOCAL
from devkit.engines import Engine, engine_from_outputs
from devkit.stack.auth import READ_WRITE_SCOPES, access_token

ARTIFACTS = LOCAL / "artifacts"


@pytest.fixture(scope="session")
def outputs() -> dict[str, Any]:
    return _load_outputs()


@pytest.fixture(scope="session")
def engine(outputs: dict[str, Any]) -> Engine:
    return engine_from_outputs(outputs)


@pytest.fixture(scope="session")
def token(outputs: dict[str, Any], engine: Engine) -> str:
    return access_token(engine, outputs, READ_WRITE_SCOPES)


@pytest.fixture(scope="session")
def console_url(outputs: dict[str, Any], engine: Engine) -> Iterator[str]:
    server = ConsoleServer(ConsoleTarget(engine, outputs), port=0).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("No Chromium found: install one (`apt-get install chromium`) or set CHROMIUM_PATH.")
    launched = playwright.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS))
    yield launched
    launched.close()


@pytest.fixture
def open_console(browser: Browser, console_url: str) -> Iterator[Any]:
    """Opens the console in a new page (its own browser context), ready and live; closes them all afterwards."""
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(viewport={"width": 1480, "height": 940})
        contexts.append(context)
        page = context.new_page()
        page.goto(console_url)
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("#live[data-state='live']")
        return page

    yield open_page
    for context in contexts:
        context.close()
