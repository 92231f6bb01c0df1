"""Part 6's example page (parts/part06/hello/) in Chromium, through each transport: it
receives what a Python client publishes over TCP, and publishes what the reader types."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.browser.support import StompTCP
from tests.helpers import ROOT, running

SERVING = re.compile(rb"Serving the site at http://[\d.]+:(\d+)/")
STOMP = re.compile(rb"STOMP broker listening on [\d.]+:(\d+)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """serve, with the example page at /part06/hello/: (http_port, stomp_port)."""
    site = tmp_path_factory.mktemp("site")
    (site / "docs").mkdir()
    (site / "docs" / "index.html").write_text("<h1>Comet, step by step</h1>")
    shutil.copytree(ROOT / "parts" / "part06" / "hello", site / "part06" / "hello")
    with running(["serve", "--port", "0", "--stomp-port", "0", "--docs", str(site)]) as serve:
        yield int(serve.wait_for(SERVING)[1]), int(serve.wait_for(STOMP)[1])


@pytest.mark.parametrize("transport", ["websocket", "sse", "stream", "poll"])
def test_the_page_talks_with_a_python_client(browser, server, transport):  # noqa: F811
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{server[0]}/part06/hello/?transport={transport}")
    # The page's Content-Security-Policy forbids eval, which wait_for_function's string uses.
    expect(page.locator("#log li", has_text="subscribed to /topic/hello")).to_have_count(
        1, timeout=20_000)
    expect(page.locator("#transport")).to_have_text(transport)
    python = StompTCP(server[1])
    python.subscribe("/topic/hello")
    python.send("/topic/hello", "from Python: <b>ça</b>")
    log = page.locator("#log li")
    expect(log.filter(has_text="/topic/hello: from Python: <b>ça</b>")).to_have_count(
        1, timeout=20_000)
    page.fill("#text", f"from the page over {transport}")
    page.press("#text", "Enter")
    assert python.messages(2) == ["from Python: <b>ça</b>", f"from the page over {transport}"]
    expect(log.filter(has_text=f'the server has "from the page over {transport}"')).to_have_count(
        1, timeout=20_000)
    assert page.locator("#log b").count() == 0
    python.close()
    context.close()
    assert errors == []
