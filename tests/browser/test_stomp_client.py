"""StompClient in Chromium over each comet transport, forced, against serve's hub; a Python
STOMP client over TCP is the other side."""

from __future__ import annotations

import itertools

import pytest

from tests.browser.support import StompTCP

_names = itertools.count()

CONNECT = """([transport, headers]) => within(15000, async () => {
  window.got = [];
  const socket = new CometSocket("/comet/", { transports: [transport] });
  const stomp = new StompClient(socket);
  window.errors = [];
  stomp.onerror = (frame) => window.errors.push(frame.headers.message);
  Object.assign(window, { socket, stomp });
  const connected = await stomp.connect(headers);
  return connected.headers;
})"""


@pytest.fixture(params=["websocket", "sse", "stream", "poll"])
def stomp_page(request, page):
    """The page with `stomp`, a StompClient connected over the transport forced."""
    headers = page.evaluate(CONNECT, [request.param, {"login": "guest", "passcode": "guest",
                                                      "heartbeat": [5000, 5000]}])
    assert headers["version"] == "1.2"
    assert "heart-beat" in headers
    assert page.evaluate("socket.transport") == request.param
    return page


@pytest.fixture
def python(server):
    client = StompTCP(server[1])
    yield client
    client.close()


def run(page, script: str, arg=None):
    """Run an async step in the page, failing after 15 s rather than hanging."""
    return page.evaluate(f"(arg) => within(15000, async () => {{ {script} }})", arg)


def test_receipts_resolve_and_messages_flow_both_ways(stomp_page, python):
    topic = f"/topic/stomp-{next(_names)}"
    python.subscribe(topic + "-up")
    receipt = run(stomp_page, """
      await stomp.subscribe(arg, (m) => got.push(m.body), { receipt: true }).receipt;
      const receipt = await stomp.send(arg + "-up", "from the page", { receipt: true });
      return receipt.command;""", topic)
    assert receipt == "RECEIPT"
    assert python.messages(1) == ["from the page"]
    python.send(topic, "to the page")
    stomp_page.wait_for_function("got.length === 1")
    assert stomp_page.evaluate("got") == ["to the page"]


def test_client_individual_ack_and_nack(stomp_page, python):
    queue = f"/queue/individual-{next(_names)}"
    run(stomp_page, """
      await stomp.subscribe(arg, (m) => {
        got.push([m.body, m.headers.redelivered === "true"]);
        if (m.body === "a" || m.headers.redelivered) m.ack(); else m.nack();
      }, { ack: "client-individual", receipt: true }).receipt;""", queue)
    python.send(queue, "a")
    python.send(queue, "b")
    # "b" was NACKed: the queue gives it again, marked redelivered.
    stomp_page.wait_for_function("got.length === 3")
    assert stomp_page.evaluate("got") == [["a", False], ["b", False], ["b", True]]


def test_client_ack_is_cumulative_and_auto_needs_none(stomp_page, python):
    queue = f"/queue/cumulative-{next(_names)}"
    topic = f"/topic/auto-{next(_names)}"
    run(stomp_page, """
      window.last = null;
      await stomp.subscribe(arg[0], (m) => { got.push(m.body); window.last = m; },
                            { ack: "client", receipt: true }).receipt;
      await stomp.subscribe(arg[1], (m) => got.push(m.body), { receipt: true }).receipt;
      """, [queue, topic])
    for body in ("q1", "q2", "q3"):
        python.send(queue, body)
    python.send(topic, "t1")
    stomp_page.wait_for_function("got.length === 4")
    # One ACK of the last message acknowledges all three; then leave the queue.
    run(stomp_page, """
      await window.last.ack({ receipt: true });
      await stomp.disconnect();""")
    python.subscribe(queue, ack="auto")
    python.send(queue, "after")
    assert python.messages(1) == ["after"]  # nothing came back for redelivery


def test_transactions_commit_and_abort(stomp_page, python):
    topic = f"/topic/tx-{next(_names)}"
    python.subscribe(topic)
    run(stomp_page, """
      const tx = stomp.begin();
      await tx.send(arg, "in tx 1");
      await tx.send(arg, "in tx 2");
      await stomp.send(arg, "outside", { receipt: true });
      window.tx = tx;""", topic)
    assert python.messages(1) == ["outside"]  # the transaction's sends wait for commit
    run(stomp_page, """
      await tx.commit();
      const other = stomp.begin();
      await other.send(arg, "aborted");
      await other.abort();
      await stomp.send(arg, "end", { receipt: true });""", topic)
    assert python.messages(3) == ["in tx 1", "in tx 2", "end"]


def test_disconnect_resolves_and_closes_the_socket(stomp_page):
    run(stomp_page, "await stomp.disconnect();")
    stomp_page.wait_for_function("socket.readyState === CometSocket.CLOSED")


def test_error_frames_reach_onerror(stomp_page):
    run(stomp_page, "stomp.send('/nowhere/at-all', 'lost');")
    stomp_page.wait_for_function("errors.length === 1")
    assert stomp_page.evaluate("errors[0]")
    stomp_page.wait_for_function("socket.readyState === CometSocket.CLOSED")


def test_over_a_raw_websocket_a_binary_message_does_not_derail_the_parser(page, python):
    """/stomp sends a frame that is not UTF-8 as a binary WebSocket message; StompClient must
    read it as bytes (and the frames after it), not as the text of a Blob."""
    topic = f"/topic/stomp-binary-{next(_names)}"
    run(page, """
      window.got = [];
      const socket = new WebSocket(`ws://${location.host}/stomp`, ["v12.stomp"]);
      await new Promise((resolve) => { socket.onopen = resolve; });
      const stomp = new StompClient(socket);
      window.stomp = stomp;
      await stomp.connect();
      await stomp.subscribe(arg, (m) => got.push(m.body), { receipt: true }).receipt;
      """, topic)
    python.write("SEND", b"\xff\xfe binary", destination=topic)
    python.send(topic, "text after it")
    page.wait_for_function("got.length === 2")
    first, second = page.evaluate("got")
    assert first.endswith(" binary") and second == "text after it"


@pytest.mark.parametrize("transport", ["websocket", "poll"])
def test_a_server_gone_silent_is_closed_with_4100(page, proxy, transport):
    """The server's heart-beats stop (the proxy stalls: nothing passes, nothing closes), so
    the client gives up on it after twice the agreed time and closes with NO_HEARTBEAT."""
    headers = page.evaluate(CONNECT, [transport, {"heartbeat": [0, 1000]}])
    assert headers["heart-beat"].split(",")[0] != "0"  # the server promised to beat
    page.evaluate("""() => {
      window.ended = null;
      stomp.onclose = (e) => { window.ended = { code: e.code, reason: e.reason }; };
    }""")
    proxy.stall()
    # Bounded: the server beats at least every second (we asked for 1000 ms), so silence
    # is noticed within a few seconds; 15 s leaves room on a busy machine.
    page.wait_for_function("window.ended !== null", timeout=15_000)
    closed = page.evaluate("window.ended")
    assert closed == {"code": 4100, "reason": "no heart-beat from the server"}
    assert page.evaluate("import('/static/stomp.js').then((m) => m.CloseCodes.NO_HEARTBEAT)") \
        == 4100


def test_a_frame_larger_than_the_bound_closes_the_socket(page, python):
    """A client told to hold at most 4 KiB of a frame closes with FRAME_TOO_LARGE when a
    bigger one comes, instead of growing its buffer."""
    topic = f"/topic/stomp-big-{next(_names)}"
    run(page, """
      window.got = [];
      window.ended = null;
      const socket = new CometSocket("/comet/", { transports: ["websocket"] });
      const stomp = new StompClient(socket, { maxFrameBytes: 4096 });
      stomp.onclose = (e) => { window.ended = { code: e.code, reason: e.reason }; };
      window.stomp = stomp;
      await stomp.connect();
      await stomp.subscribe(arg, (m) => got.push(m.body), { receipt: true }).receipt;
      """, topic)
    python.send(topic, "small")
    page.wait_for_function("got.length === 1")
    python.send(topic, "x" * 10_000)
    page.wait_for_function("window.ended !== null")
    assert page.evaluate("window.ended") == {
        "code": 4101, "reason": "a frame is larger than 4096 bytes"}
    assert page.evaluate("got") == ["small"]


# Feed FrameParser `frames` (a string) cut into `pieces` messages; count the bytes it copies
# (every Uint8Array set/copyWithin while feeding) and return the frames it read.
FEED = """async ([text, pieces, maxBytes]) => {
  const { FrameParser } = await import("/static/stomp.js");
  const frames = [];
  const parser = new FrameParser((frame) => frames.push(frame), { maxBytes });
  const bytes = new TextEncoder().encode(text);
  const step = Math.ceil(bytes.length / pieces);
  const messages = [];
  for (let at = 0; at < bytes.length; at += step) messages.push(bytes.slice(at, at + step));
  const { set, copyWithin } = Uint8Array.prototype;
  let copied = 0;
  Uint8Array.prototype.set = function (source, offset) {
    copied += source.length;
    return set.call(this, source, offset);
  };
  Uint8Array.prototype.copyWithin = function (target, start, end = this.length) {
    copied += end - start;
    return copyWithin.call(this, target, start, end);
  };
  let error = null;
  try {
    for (const message of messages) parser.feed(message);
  } catch (e) {
    error = `${e.name}: ${e.message}`;
  } finally {
    Object.assign(Uint8Array.prototype, { set, copyWithin });
  }
  return {
    count: messages.length, copied, error, held: parser.held,
    frames: frames.map((f) => [f.command, f.headers, f.body.length, f.body.slice(0, 8)]),
    bodies: frames.map((f) => f.body === text.slice(text.indexOf("\\n\\n") + 2, -1)),
  };
}"""


@pytest.mark.parametrize("length_header", [True, False])
def test_a_1mb_frame_in_1000_messages_parses_without_copying_it_each_time(page, length_header):
    body = ("é" + "x" * 998 + "€") * 1000  # 1 MB, multi-byte characters split by the cuts
    size = len(body.encode())
    head = f"MESSAGE\ndestination:/topic/big\ncontent-length:{size}\n" if length_header \
        else "MESSAGE\r\ndestination:/topic/big\r\n"
    text = f"{head}\n{body}\0"
    result = page.evaluate(FEED, [text, 1000, 16 * 1024 * 1024])
    assert result["error"] is None
    assert result["count"] == 1000
    headers = {"destination": "/topic/big"} | (
        {"content-length": str(size)} if length_header else {})
    assert result["frames"] == [["MESSAGE", headers, len(body), body[:8]]]
    assert result["bodies"] == [True]
    # Appending each message after the others, not re-copying all held so far: a few times
    # the frame's size in all (re-copying would be ~500 times).
    assert result["copied"] < 4 * len(text.encode())
    assert result["held"] == 0


def test_the_parser_refuses_to_hold_more_than_its_bound(page):
    # No content-length: only the bound stops it; with one, the head alone says too much.
    endless = "MESSAGE\ndestination:/q\n\n" + "y" * 5000
    result = page.evaluate(FEED, [endless, 50, 4096])
    assert result["error"] == "FrameTooLarge: a frame is larger than 4096 bytes"
    assert result["held"] <= 4096
    announced = "MESSAGE\ndestination:/q\ncontent-length:100000\n\n" + "z" * 100
    result = page.evaluate(FEED, [announced, 2, 4096])
    assert result["error"] == "FrameTooLarge: a frame is larger than 4096 bytes"
