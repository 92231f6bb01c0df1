"""@stomp/stompjs from npm, unchanged: over a CometSocket (it has WebSocket's interface),
and straight to serve's STOMP-over-WebSocket endpoint, ``/stomp``."""

from __future__ import annotations

import itertools

import pytest

from tests.browser.support import StompTCP

_topics = itertools.count()

# Start a StompJs.Client with `config` (plus the socket made by `factory`, if given),
# subscribe to `topic` with a receipt, and resolve once the receipt came.
START = """([factory, config, topic]) => within(15000, () => new Promise((resolve, reject) => {
  window.got = [];
  if (factory !== null) config.webSocketFactory = new Function(`return ${factory}`);
  const client = new StompJs.Client({ reconnectDelay: 0, ...config });
  window.client = client;
  client.onStompError = (frame) => reject(new Error(frame.headers.message));
  client.onConnect = () => {
    client.watchForReceipt("subscribed", () => resolve(client.connectedVersion));
    client.subscribe(topic, (m) => got.push(m.body), { receipt: "subscribed" });
  };
  client.activate();
}))"""


def converse(page, server, topic: str) -> None:
    """Messages from Python reach the page, and the page's reach Python."""
    python = StompTCP(server[1])
    python.subscribe(topic + "-up")
    for n in range(3):
        python.send(topic, f"to stompjs {n} é")
    page.wait_for_function("got.length === 3")
    assert page.evaluate("got") == [f"to stompjs {n} é" for n in range(3)]
    page.evaluate("(t) => client.publish({ destination: t, body: 'from stompjs' })",
                  topic + "-up")
    assert python.messages(1) == ["from stompjs"]
    page.evaluate("client.deactivate()")
    python.close()


@pytest.mark.parametrize("transport", ["websocket", "sse", "stream", "poll"])
def test_stompjs_over_a_comet_socket(stompjs, server, transport):
    topic = f"/topic/stompjs-comet-{next(_topics)}"
    factory = f'new CometSocket("/comet/", {{ transports: ["{transport}"] }})'
    assert stompjs.evaluate(START, [factory, {}, topic]) == "1.2"
    assert stompjs.evaluate("client.webSocket.transport") == transport
    converse(stompjs, server, topic)


def test_stompjs_straight_to_the_stomp_websocket(stompjs, server):
    topic = f"/topic/stompjs-ws-{next(_topics)}"
    config = stompjs.evaluate("({ brokerURL: `ws://${location.host}/stomp` })")
    assert stompjs.evaluate(START, [None, config, topic]) == "1.2"
    assert stompjs.evaluate("client.webSocket instanceof WebSocket")
    converse(stompjs, server, topic)
