"""CometSocket in Chromium: each transport, the choice and the fallback, reconnecting
without loss or repeats, and the close codes."""

from __future__ import annotations

import http.client
import itertools

import pytest

from tests.browser.support import StompTCP

TRANSPORTS = ["websocket", "sse", "stream", "poll"]
_topics = itertools.count()

# Open a CometSocket with `options`, connect a StompClient on it and subscribe to `topic`;
# every message body lands in window.got, the close event in window.ended.
OPEN = """([options, topic]) => within(15000, async () => {
  window.got = [];
  window.ended = null;
  const socket = new CometSocket("/comet/", options);
  socket.addEventListener("close", (e) => {
    window.ended = { code: e.code, reason: e.reason, wasClean: e.wasClean };
  });
  const stomp = new StompClient(socket);
  Object.assign(window, { socket, stomp });
  await stomp.connect();
  await stomp.subscribe(topic, (m) => window.got.push(m.body), { receipt: true }).receipt;
  return socket.transport;
})"""


def open_socket(page, topic: str, **options) -> str:
    return page.evaluate(OPEN, [options, topic])


def wait_for_messages(page, count: int) -> list[str]:
    page.wait_for_function(f"window.got.length >= {count}")
    return page.evaluate("window.got")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_transport_forced_carries_both_directions(page, server, transport):
    topic = f"/topic/forced-{next(_topics)}"
    python = StompTCP(server[1])
    python.subscribe(topic + "-up")
    assert open_socket(page, topic, transports=[transport]) == transport
    # Characters of 1 to 4 bytes: the socket decodes UTF-8 across record boundaries.
    sent = ["plain", "héllo wörld", "€ 100", "😀 emoji", "x" * 5000]
    for body in sent:
        python.send(topic, body)
    assert wait_for_messages(page, len(sent)) == sent
    page.evaluate("""async (topic) => {
      for (const body of ["up-1", "up-é", "up-😀"]) await stomp.send(topic, body);
    }""", topic + "-up")
    assert python.messages(3) == ["up-1", "up-é", "up-😀"]
    assert page.evaluate("socket.transport") == transport
    python.close()


def test_by_default_it_picks_websocket(page, server):
    assert open_socket(page, f"/topic/default-{next(_topics)}") == "websocket"
    assert page.evaluate("[socket.readyState, CometSocket.OPEN, socket.protocol]") == [1, 1, ""]


def test_falls_back_to_sse_when_a_proxy_refuses_websocket(page, proxy, server):
    proxy.block_websocket = True
    topic = f"/topic/no-ws-{next(_topics)}"
    assert open_socket(page, topic, deadline=2000) == "sse"
    python = StompTCP(server[1])
    python.send(topic, "through sse")
    assert wait_for_messages(page, 1) == ["through sse"]
    python.close()


def test_falls_back_to_polling_when_a_proxy_buffers_streams(page, proxy, server):
    # No WebSocket, and every stream held back until it ends: only polls get through.
    proxy.block_websocket = True
    proxy.buffer_streams = True
    topic = f"/topic/buffered-{next(_topics)}"
    open_socket(page, topic, deadline=1000)
    page.wait_for_function("socket.transport === 'poll'")
    python = StompTCP(server[1])
    for n in range(3):
        python.send(topic, f"polled {n}")
    assert wait_for_messages(page, 3) == [f"polled {n}" for n in range(3)]
    python.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_dropped_connections_lose_and_repeat_nothing(page, proxy, server, transport):
    """The proxy drops every connection, three times, while messages flow both ways:
    each side gets exactly the sequence sent."""
    topic = f"/topic/drops-{next(_topics)}"
    python = StompTCP(server[1])
    python.subscribe(topic + "-up")
    assert open_socket(page, topic, transports=[transport]) == transport
    # The page sends 200 messages upstream, one every few milliseconds, meanwhile.
    page.evaluate("""(topic) => {
      let n = 0;
      const tick = () => { if (n < 200) { stomp.send(topic, `up ${n++}`); setTimeout(tick, 5); } };
      tick();
    }""", topic + "-up")
    sent = []
    for round_ in range(4):
        for n in range(100):
            body = f"down {round_ * 100 + n}"
            python.send(topic, body)
            sent.append(body)
        wait_for_messages(page, len(sent) - 50)  # mid-way through this batch
        if round_ < 3:
            assert proxy.drop_all() > 0
    assert wait_for_messages(page, len(sent)) == sent
    assert python.messages(200) == [f"up {n}" for n in range(200)]
    assert page.evaluate("socket.readyState") == 1
    assert page.evaluate("socket.transport") == transport
    python.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_session_the_server_ends_closes_with_4000_and_its_reason(page, transport):
    open_socket(page, f"/topic/ended-{next(_topics)}", transports=[transport])
    # A frame the broker refuses: it answers ERROR and ends the session.
    page.evaluate("socket.send('NONSENSE\\n\\n\\0')")
    page.wait_for_function("window.ended !== null")
    closed = page.evaluate("window.ended")
    assert closed["code"] == page.evaluate("CloseCodes.SESSION_ENDED") == 4000
    assert closed["reason"]
    assert page.evaluate("socket.readyState") == 3


def test_a_session_gone_while_the_network_was_down_closes_with_4001(page, proxy, server):
    ids = []
    page.on("response", lambda r: ids.append(r.text()) if (
        r.request.method == "POST" and r.url.endswith("/comet/")) else None)
    open_socket(page, f"/topic/lost-{next(_topics)}", transports=["poll"])
    session_id = ids[0]
    # The network goes down; meanwhile the session ends on the server (as if it expired).
    proxy.refuse = True
    proxy.drop_all()
    conn = http.client.HTTPConnection("127.0.0.1", server[0], timeout=10)
    conn.request("DELETE", f"/comet/{session_id}")
    assert conn.getresponse().status == 204
    conn.close()
    proxy.refuse = False
    page.wait_for_function("window.ended !== null")
    closed = page.evaluate("window.ended")
    assert closed["code"] == page.evaluate("CloseCodes.SESSION_LOST") == 4001
    assert not closed["wasClean"]


def test_close_by_the_page_is_clean_and_ends_the_session(page, server):
    topic = f"/topic/bye-{next(_topics)}"
    open_socket(page, topic, transports=["poll"])
    page.evaluate("socket.close(1000, 'bye')")
    page.wait_for_function("window.ended !== null")
    assert page.evaluate("window.ended") == {"code": 1000, "reason": "bye", "wasClean": True}
