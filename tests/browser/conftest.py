"""Browser tests: Chromium driven by Playwright, against a `serve` subprocess.

One Chromium and one `serve` for the whole run; each test gets a fresh browser context
(its own cookies, cache and connections) and its own `Proxy` between the page and serve.
The test page (pages/index.html) and the @stomp/stompjs bundle are copied into the site
folder `serve` serves, at ``/__test__/``, so the page and /comet/ share one origin as on
a real site. (A page Playwright fakes with `route` would not do: Chromium takes it for a
public page and blocks its WebSockets to 127.0.0.1, "local network access".)

Without /usr/bin/chromium, Python's playwright, or (for @stomp/stompjs) ``npm ci`` having
been run in tests/browser, the tests skip and say why; with COMET_REQUIRE_BROWSER=1 they
fail instead (CI sets it, so a missing browser cannot pass unnoticed).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.browser.support import Proxy
from tests.helpers import missing, running

HERE = Path(__file__).resolve().parent
STOMPJS = HERE / "node_modules" / "@stomp" / "stompjs" / "bundles" / "stomp.umd.min.js"
SERVING = re.compile(rb"Serving the site at http://[\d.]+:(\d+)/")
STOMP = re.compile(rb"STOMP broker listening on [\d.]+:(\d+)")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One `serve` (site, /comet/, /static/, broker): (http_port, stomp_port)."""
    site = tmp_path_factory.mktemp("site")
    (site / "docs").mkdir()
    (site / "docs" / "index.html").write_text("<h1>Comet, step by step</h1>")
    (site / "__test__").mkdir()
    shutil.copy(HERE / "pages" / "index.html", site / "__test__")
    if STOMPJS.exists():
        shutil.copy(STOMPJS, site / "__test__")
    with running(["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site)]) as serve:
        http_port = int(serve.wait_for(SERVING).group(1))
        stomp_port = int(serve.wait_for(STOMP).group(1))
        yield http_port, stomp_port


@pytest.fixture
def proxy(server):
    proxy = Proxy(server[0])
    yield proxy
    proxy.close()


@pytest.fixture
def page(browser, proxy):
    """A fresh page on the proxy's origin, with CometSocket, CloseCodes and StompClient
    (and StompJs, when installed) as globals."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Shown by pytest when a test fails.
    page.on("console", lambda message: print(f"console.{message.type}: {message.text}"))
    page.on("websocket", lambda ws: print(f"websocket: {ws.url}"))
    page.goto(f"http://127.0.0.1:{proxy.port}/__test__/index.html")
    page.wait_for_function("window.loaded === true")
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def stompjs(page):
    """The page, with @stomp/stompjs loaded (skips when npm packages are missing)."""
    if not STOMPJS.exists():
        missing(f"no @stomp/stompjs at {STOMPJS.relative_to(HERE.parent.parent)}: "
                "run `npm ci` in tests/browser")
    assert page.evaluate("typeof StompJs") == "object"
    return page
