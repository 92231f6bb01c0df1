// CometSocket: the browser WebSocket's interface over any comet transport.
//
//   import { CometSocket } from "/static/comet.js";
//   const socket = new CometSocket("/comet/");           // or {transports: ["poll"]}
//   socket.onopen = () => socket.send("CONNECT\naccept-version:1.2\n\n\0");
//   socket.onmessage = (event) => console.log(event.data); // strings
//   socket.onclose = (event) => console.log(event.code, event.reason);
//
// Underneath is a comet session (docs/reference/comet-protocol.md): two numbered byte
// streams that outlive any one request. Because the server keeps every byte until we say
// we hold it, and applies every upload exactly once, this socket can lose its transport,
// open another (the same kind, or the next in the list), and carry on where it stopped:
// nothing is lost and nothing is repeated. Only when the session itself is gone does the
// socket close, with one of the codes below.
//
// How a transport is chosen: the socket tries `transports` in order (best first). One that
// fails before any byte got through (a WebSocket a proxy refuses, a stream a proxy holds
// back until it ends, so that nothing arrives within `deadline`) is dropped for the next.
// One that worked and then broke is reopened; if it keeps failing, the next one is tried.

import { RecordReader } from "./records.js";
import { TRANSPORTS, fetchBytes } from "./transports.js";

// The close codes of a CometSocket (the 4000-4999 range is the application's to use).
// Codes below 4000 are the ones passed to close() by the page itself (1000 by default).
export const CloseCodes = Object.freeze({
  SESSION_ENDED: 4000, // the server ended the session; the reason is the server's
  SESSION_LOST: 4001, // the server does not know the session (it expired, or restarted)
  UNREACHABLE: 4002, // no transport reached the server for `giveUpAfter` milliseconds
  REFUSED: 4003, // the server refused a request (origin, limits, a bad request): its message
});
// (StompClient closes its socket with 4100 and up: CloseCodes in stomp.js.)

const DEFAULTS = {
  transports: ["websocket", "sse", "stream", "poll"],
  deadline: 4000, // ms a new transport has to show that bytes get through
  retries: 3, // reopenings of a transport that worked, before trying the next one
  giveUpAfter: 30000, // ms without reaching the server before closing with UNREACHABLE
  maxUpload: 64 * 1024, // bytes in one upload at most
};

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

export class CometSocket extends EventTarget {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSING = CLOSING;
  static CLOSED = CLOSED;
  CONNECTING = CONNECTING;
  OPEN = OPEN;
  CLOSING = CLOSING;
  CLOSED = CLOSED;

  // WebSocket's attributes. Messages are always strings here, so binaryType is only kept.
  readyState = CONNECTING;
  binaryType = "blob";
  protocol = "";
  extensions = "";
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;

  #options;
  #id = null; // the session id: a secret, never shown
  #held = 0; // H: downstream bytes received, all in order
  #decoder = new TextDecoder(); // one for the whole stream: characters may span pieces
  #outbox = new Uint8Array(0); // upstream bytes not yet applied by the server
  #applied = 0; // A: upstream bytes the server applied (the outbox starts there)
  #inFlight = 0; // outbox bytes sent through the current channel, not yet answered
  #uploading = false; // an HTTP upload is on its way
  #transport = null;
  #choice = 0; // index in the transports list
  #failures = 0; // failures in a row of the transport at #choice
  #lastContact = Date.now(); // the last time the server answered anything
  #timer = null; // the one pending retry or deadline
  #closing = null; // while CLOSING: called once the outbox is empty

  constructor(url = "/comet/", options = {}) {
    super();
    this.url = new URL(url, location.href).href.replace(/\/?$/, "/");
    this.#options = { ...DEFAULTS, ...options };
    for (const name of this.#options.transports) {
      if (!(name in TRANSPORTS)) throw new SyntaxError(`CometSocket: no transport "${name}"`);
    }
    this.#open();
  }

  // The name of the transport in use ("websocket", "sse", "stream", "poll"), or "".
  get transport() {
    return this.#transport?.name ?? "";
  }

  // Bytes given to send() that the server has not applied yet (as on a WebSocket).
  get bufferedAmount() {
    return this.#outbox.length;
  }

  send(data) {
    if (this.readyState === CONNECTING) {
      throw new DOMException("CometSocket is still connecting", "InvalidStateError");
    }
    if (this.readyState !== OPEN) return; // like WebSocket: dropped after close()
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : toBytes(data);
    this.#outbox = join(this.#outbox, bytes);
    this.#flush();
  }

  close(code = 1000, reason = "") {
    if (code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException(`CometSocket: close code ${code} is not allowed`,
        "InvalidAccessError");
    }
    if (this.readyState >= CLOSING) return;
    this.readyState = CLOSING;
    // Let what was sent reach the server (a STOMP DISCONNECT, say), for a moment at most,
    // then end the session on the server too.
    const finish = () => {
      if (this.#id !== null) {
        fetch(this.url + this.#id, { method: "DELETE", keepalive: true }).catch(() => {});
      }
      this.#finish(code, reason, true);
    };
    if (this.#outbox.length === 0 || this.#id === null) return finish();
    this.#closing = finish;
    setTimeout(finish, 2000);
  }

  // --- opening ------------------------------------------------------------------------

  async #open() {
    // POST /comet/ opens a session; its body is the id.
    let answer;
    try {
      answer = await fetchBytes(this.url, null, { method: "POST" });
    } catch {
      if (Date.now() - this.#lastContact > this.#options.giveUpAfter) {
        return this.#fail(CloseCodes.UNREACHABLE, "the server cannot be reached");
      }
      return this.#later(() => this.#open(), 1000);
    }
    if (answer.status !== 201) return this.#refused(answer);
    const id = new TextDecoder().decode(answer.bytes);
    if (this.readyState !== CONNECTING) {
      // close() was called meanwhile: end the session we just opened.
      return fetch(this.url + id, { method: "DELETE", keepalive: true }).catch(() => {});
    }
    this.#id = id;
    this.#contact();
    this.readyState = OPEN;
    this.#emit(new Event("open"));
    this.#resync();
  }

  // --- receiving ----------------------------------------------------------------------

  // Catch up with one quick poll (hold=0), then start the chosen transport. The poll also
  // tells us, with an HTTP status, whether the session still exists: a WebSocket or an
  // EventSource that fails cannot say why.
  async #resync() {
    if (this.readyState === CLOSED) return;
    let answer;
    try {
      answer = await fetchBytes(this.#url("poll", { ack: this.#held, hold: 0 }));
    } catch {
      return this.#retry();
    }
    if (this.readyState === CLOSED) return;
    if (answer.status !== 200) return answer.status >= 500 ? this.#retry() : this.#refused(answer);
    this.#contact();
    let over = null;
    new RecordReader({
      data: (offset, bytes) => this.#deliver(offset, bytes),
      closed: (reason) => { over = reason; },
    }).feed(answer.bytes);
    if (over !== null) return this.#over(over);
    this.#start();
  }

  #start() {
    const name = this.#options.transports[this.#choice];
    const transport = new TRANSPORTS[name](this.#host());
    this.#transport = transport;
    this.#inFlight = 0;
    transport.start();
    // A transport that shows no sign of life within the deadline is taken for blocked.
    // (Long-polling needs none: the resync poll just proved that polls get through.)
    if (name !== "poll") {
      this.#later(() => {
        if (!transport.verified) this.#lost(transport, { error: new Error("no data in time") });
      }, this.#options.deadline);
    }
    this.#flush();
  }

  // What a transport may see of the socket (see transports.js).
  #host() {
    const socket = this;
    return {
      url: (action, params) => this.#url(action, params),
      get held() { return socket.#held; },
      deliver: (offset, bytes) => this.#deliver(offset, bytes),
      alive: (transport) => {
        if (transport !== this.#transport) return;
        clearTimeout(this.#timer);
        this.#failures = 0;
        this.#contact();
        this.#flush(); // a WebSocket now carries the uploads
      },
      over: (reason) => this.#over(reason),
      lost: (transport, why) => this.#lost(transport, why),
      applied: (count) => this.#acknowledged(count),
    };
  }

  // Bytes O to O+len from the server. We hold H; a piece starting below H repeats what
  // we have (an answer to an older request): keep only what is new.
  #deliver(offset, bytes) {
    if (this.readyState === CLOSED) return;
    this.#contact();
    if (offset > this.#held) throw new Error("comet: the server skipped bytes");
    const fresh = bytes.subarray(this.#held - offset);
    if (fresh.length === 0) return;
    this.#held += fresh.length;
    const text = this.#decoder.decode(fresh, { stream: true });
    if (text !== "") this.#emit(new MessageEvent("message", { data: text, origin: location.origin }));
  }

  // A transport stopped. Reopen it, or try the next, after a moment.
  #lost(transport, why) {
    if (transport !== this.#transport || this.readyState === CLOSED) return;
    transport.stop();
    this.#transport = null;
    if (why.status !== undefined && why.status < 500) return this.#refused(why);
    const last = this.#options.transports.length - 1;
    this.#failures += 1;
    // A transport that never got a byte through gets no second chance; one that worked
    // is reopened a few times first (the network may just have blinked).
    if (this.#choice < last && (!transport.verified || this.#failures > this.#options.retries)) {
      this.#choice += 1;
      this.#failures = 0;
    }
    this.#later(() => this.#resync(), transport.verified ? 0 : 250);
  }

  #retry() {
    if (Date.now() - this.#lastContact > this.#options.giveUpAfter) {
      return this.#fail(CloseCodes.UNREACHABLE, "the server cannot be reached");
    }
    this.#failures += 1;
    this.#later(() => this.#resync(), Math.min(250 * 2 ** this.#failures, 5000));
  }

  // --- sending ------------------------------------------------------------------------

  // Move outbox bytes towards the server: through the WebSocket when one is open (many
  // messages may be on their way at once), else one HTTP upload at a time.
  #flush() {
    if (this.#id === null || this.readyState === CLOSED) return;
    const transport = this.#transport;
    if (transport?.carriesUploads) {
      if (!transport.open) return; // it flushes again once open
      while (this.#inFlight < this.#outbox.length) {
        const piece = this.#outbox.subarray(this.#inFlight, this.#inFlight + this.#options.maxUpload);
        transport.upload(this.#applied + this.#inFlight, piece);
        this.#inFlight += piece.length;
      }
    } else if (!this.#uploading && this.#outbox.length > 0) {
      this.#upload();
    }
  }

  async #upload() {
    this.#uploading = true;
    const piece = this.#outbox.subarray(0, this.#options.maxUpload);
    let answer = null;
    try {
      answer = await fetchBytes(this.#url("send", { offset: this.#applied }), null,
        { method: "POST", body: piece });
    } catch {
      // Lost on the way, or its answer was: send the same bytes again (the server skips
      // whatever of them it applied already).
    }
    this.#uploading = false;
    if (this.readyState === CLOSED) return;
    if (answer === null || answer.status >= 500) {
      if (Date.now() - this.#lastContact > this.#options.giveUpAfter) {
        return this.#fail(CloseCodes.UNREACHABLE, "the server cannot be reached");
      }
      this.#later(() => this.#flush(), 500, false);
      return;
    }
    if (answer.status !== 200) return this.#refused(answer);
    this.#contact();
    this.#acknowledged(Number(new TextDecoder().decode(answer.bytes)));
    this.#flush();
  }

  // The server applied `count` upstream bytes in all: forget them.
  #acknowledged(count) {
    const done = count - this.#applied;
    if (done <= 0) return;
    this.#outbox = this.#outbox.slice(done);
    this.#applied = count;
    this.#inFlight = Math.max(0, this.#inFlight - done);
    if (this.#outbox.length === 0 && this.#closing) this.#closing();
  }

  // --- the end ------------------------------------------------------------------------

  // The server ended the session, after all its data.
  #over(reason) {
    this.#finish(CloseCodes.SESSION_ENDED, reason, true);
  }

  // An HTTP refusal: the session is gone, or the server will not have us.
  #refused({ status, message }) {
    if (status === 404) return this.#fail(CloseCodes.SESSION_LOST, message);
    if (status === 410) return this.#finish(CloseCodes.SESSION_ENDED, closedReason(message), true);
    this.#fail(CloseCodes.REFUSED, `${status}: ${message}`);
  }

  #fail(code, reason) {
    if (this.readyState === CLOSED) return;
    this.#emit(new Event("error"));
    this.#finish(code, reason, false);
  }

  #finish(code, reason, wasClean) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.#closing = null;
    clearTimeout(this.#timer);
    this.#transport?.stop();
    this.#emit(new CloseEvent("close", { code, reason, wasClean }));
  }

  // --- small helpers ------------------------------------------------------------------

  #url(action, params) {
    return `${this.url}${this.#id}/${action}?${new URLSearchParams(params)}`;
  }

  #contact() {
    this.#lastContact = Date.now();
  }

  // Run `action` after `ms`, replacing any pending retry or deadline (there is one at most).
  #later(action, ms, replace = true) {
    if (replace) clearTimeout(this.#timer);
    const timer = setTimeout(action, ms);
    if (replace) this.#timer = timer;
  }

  // Dispatch to addEventListener listeners and to the on<type> property, as WebSocket does.
  #emit(event) {
    this.dispatchEvent(event);
    const handler = this[`on${event.type}`];
    if (typeof handler === "function") handler.call(this, event);
  }
}

// The reason in a 410 message ("The session is closed: REASON.").
function closedReason(message) {
  const match = /^The session is \w+: (.*)\.$/.exec(message);
  return match ? match[1] : message;
}

function join(a, b) {
  const both = new Uint8Array(a.length + b.length);
  both.set(a, 0);
  both.set(b, a.length);
  return both;
}

function toBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("CometSocket.send takes a string, an ArrayBuffer or a typed array");
}
