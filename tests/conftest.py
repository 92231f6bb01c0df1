"""Fixtures shared across the suite.

`browser`: one Chromium for the whole run, driven by Playwright's sync API. A process can
hold only one sync Playwright at a time, so every browser test (tests/browser, Parts 6
and 7) shares this one. Without /usr/bin/chromium or Python's playwright the tests that
need it skip and say why; with COMET_REQUIRE_BROWSER=1 (CI) they fail instead.
"""

from __future__ import annotations

import pytest

from tests.helpers import CHROMIUM, need_browser


@pytest.fixture(scope="session")
def browser():
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def hub():
    """A fresh broker hub: the destinations the sans-IO session tests publish to."""
    from comet_core.hub import Hub

    return Hub()


@pytest.fixture
def clock():
    """A clock the test moves by hand (heart-beats, timeouts, expiry)."""
    from tests.stomp.session_support import Clock

    return Clock()
