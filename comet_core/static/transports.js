// The four ways a page can receive a comet session's bytes: WebSocket, Server-Sent Events,
// a streaming fetch ("XHR streaming") and long-polling.
//
// Each transport is a small object that `CometSocket` (comet.js) starts and stops. It knows
// only how to ask for data and how to read the answer; everything it learns goes to its
// `host` (the socket), which decides what happens next:
//
//   host.url(action, params)   the address of /comet/ID/<action>?<params>
//   host.held                  H: how many downstream bytes the page holds
//   host.deliver(offset, bytes) data (the host drops what it already has)
//   host.alive(transport)      bytes got through: this transport works here
//   host.over(reason)          the server ended the session
//   host.lost(transport, why)  this transport stopped; `why` is {status, message} for an
//                              HTTP refusal, or {error} for a network failure
//   host.applied(count)        (WebSocket) the server applied `count` upstream bytes
//
// A stopped transport calls nothing any more: the socket can start the next one at once.

import { RecordReader } from "./records.js";

// What every transport shares: telling the socket, once, that bytes get through, and
// telling it when the transport stopped working (after stopping it for good).
class Transport {
  constructor(host) {
    this.host = host;
    this.verified = false;
  }

  markAlive() {
    if (!this.verified) {
      this.verified = true;
      this.host.alive(this);
    }
  }

  fail(why) {
    if (this.stopped) return;
    this.stop();
    this.host.lost(this, why);
  }
}

// Long-polling: one request at a time, each answered when data comes (or after a while
// with nothing). The most robust transport: every proxy passes ordinary responses.
export class PollTransport extends Transport {
  name = "poll";

  constructor(host) {
    super(host);
    this.abort = new AbortController();
  }

  start() {
    this.#loop().catch((error) => this.fail({ error }));
  }

  stop() {
    this.stopped = true;
    this.abort.abort();
  }

  async #loop() {
    while (!this.stopped) {
      const body = await fetchBytes(this.host.url("poll", { ack: this.host.held }), this.abort);
      if (this.stopped) return;
      if (body.status !== 200) return this.fail(body);
      this.markAlive();
      let over = false;
      new RecordReader({
        data: (offset, bytes) => this.host.deliver(offset, bytes),
        closed: (reason) => { over = true; this.host.over(reason); },
      }).feed(body.bytes);
      if (over) return;
    }
  }
}

// XHR streaming, done with fetch(): one long response whose body grows a record at a time.
// The server starts it with a keep-alive (a lone newline), so a page can tell within a
// moment whether bytes get through, or a proxy on the way holds them back.
export class StreamTransport extends Transport {
  name = "stream";

  constructor(host) {
    super(host);
    this.abort = new AbortController();
  }

  start() {
    this.#loop().catch((error) => this.fail({ error }));
  }

  stop() {
    this.stopped = true;
    this.abort.abort();
  }

  async #loop() {
    // Each turn is one response; the server ends one with an `e` record after about a
    // megabyte (the browser keeps a whole response in memory) and we open the next.
    while (!this.stopped) {
      const url = this.host.url("stream", { ack: this.host.held });
      const response = await fetch(url, { cache: "no-store", signal: this.abort.signal });
      if (this.stopped) return;
      if (response.status !== 200) return this.fail(await refusal(response));
      let ended = false;
      let over = false;
      const reader = new RecordReader({
        data: (offset, bytes) => this.host.deliver(offset, bytes),
        closed: (reason) => { over = true; this.host.over(reason); },
        ended: () => { ended = true; },
      });
      const body = response.body.getReader();
      for (;;) {
        const { value, done } = await body.read();
        if (this.stopped) return;
        if (done) break;
        this.markAlive();
        reader.feed(value);
        if (over) return;
      }
      // A body that stops without saying why was cut by the network.
      if (!ended) return this.fail({ error: new Error("the stream was cut") });
    }
  }
}

// Server-Sent Events with the browser's own EventSource. Each event's id is the offset
// after its data, so `lastEventId` always equals H. Text arrives as text; bytes that are
// not UTF-8 arrive base64-encoded in events of type "b". The server opens the stream with
// a "ready" event, our sign that events get through.
export class SSETransport extends Transport {
  name = "sse";

  constructor(host) {
    super(host);
    this.encoder = new TextEncoder();
  }

  start() {
    const source = new EventSource(this.host.url("sse", { ack: this.host.held }));
    this.source = source;
    const receive = (bytes, event) => {
      this.markAlive();
      this.host.deliver(Number(event.lastEventId) - bytes.length, bytes);
    };
    source.addEventListener("ready", () => this.markAlive());
    source.addEventListener("message", (e) => receive(this.encoder.encode(e.data), e));
    source.addEventListener("b", (e) => receive(fromBase64(e.data), e));
    source.addEventListener("close", (e) => { this.stop(); this.host.over(e.data); });
    // "end": a newer request took the session over. EventSource would reconnect by itself
    // and take it back; an error (a cut, or the server recycling the response) likewise.
    // We close it either way and let the socket decide what to open next.
    source.addEventListener("end", () => this.fail({ error: new Error("replaced") }));
    source.addEventListener("error", () => this.fail({ error: new Error("the event stream failed") }));
  }

  stop() {
    this.stopped = true;
    this.source?.close();
  }
}

// WebSocket as a comet transport: one socket carries both directions (see the
// "WebSocket" paragraph of the protocol reference). Data comes as the same records as a
// stream, and uploads go out as `d O\n<bytes>` messages, answered by `a A` records; the
// page says how much it holds with `a H` messages.
export class WebSocketTransport extends Transport {
  name = "websocket";
  carriesUploads = true; // the socket sends upstream bytes through upload(), not HTTP

  constructor(host) {
    super(host);
    this.open = false;
    this.ackTimer = null;
  }

  start() {
    const url = this.host.url("ws", { ack: this.host.held }).replace(/^http/, "ws");
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let over = false;
    const reader = new RecordReader({
      data: (offset, bytes) => { this.host.deliver(offset, bytes); this.#ackSoon(); },
      closed: (reason) => { over = true; this.stop(); this.host.over(reason); },
      applied: (count) => this.host.applied(count),
    });
    ws.onopen = () => {
      this.open = true;
      this.markAlive();
    };
    ws.onmessage = (event) => {
      if (this.stopped) return;
      const bytes = typeof event.data === "string"
        ? new TextEncoder().encode(event.data) : new Uint8Array(event.data);
      try {
        reader.feed(bytes);
      } catch (error) {
        this.fail({ error });
      }
    };
    ws.onclose = (event) => {
      if (!over) this.fail({ error: new Error(`websocket closed: ${event.code} ${event.reason}`) });
    };
  }

  // Send bytes from upstream offset `offset` on.
  upload(offset, bytes) {
    const head = new TextEncoder().encode(`d ${offset}\n`);
    const message = new Uint8Array(head.length + bytes.length);
    message.set(head, 0);
    message.set(bytes, head.length);
    this.ws.send(message);
  }

  stop() {
    this.stopped = true;
    this.open = false;
    clearTimeout(this.ackTimer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }

  // Tell the server what we hold, once per burst of messages rather than after each one.
  #ackSoon() {
    if (this.ackTimer !== null) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      if (this.open) this.ws.send(`a ${this.host.held}`);
    }, 0);
  }
}

export const TRANSPORTS = {
  websocket: WebSocketTransport,
  sse: SSETransport,
  stream: StreamTransport,
  poll: PollTransport,
};

// GET or POST `url` and read the whole answer as bytes: {status, bytes, message}.
export async function fetchBytes(url, abort, init = {}) {
  const response = await fetch(url, { cache: "no-store", signal: abort?.signal, ...init });
  if (response.status >= 300) return refusal(response);
  return { status: response.status, bytes: new Uint8Array(await response.arrayBuffer()) };
}

// A refusal's status and its one-line message (the server always sends one).
async function refusal(response) {
  const message = (await response.text()).trim();
  return { status: response.status, message };
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
