// StompClient: STOMP 1.0-1.2 over anything with WebSocket's interface.
//
//   import { CometSocket } from "/static/comet.js";
//   import { StompClient } from "/static/stomp.js";
//   const stomp = new StompClient(new CometSocket("/comet/"));
//   await stomp.connect({ login: "guest", passcode: "guest", heartbeat: [10000, 10000] });
//   stomp.subscribe("/topic/chat", (message) => show(message.body));
//   await stomp.send("/topic/chat", "hello", { receipt: true }); // resolves on RECEIPT
//
// The socket may be a CometSocket or a real WebSocket to ws://HOST/stomp (ask for the
// "v12.stomp" subprotocol). Its messages are strings holding pieces of the byte stream:
// a frame may come in several messages, and one message may hold several frames.

const VERSIONS = "1.0,1.1,1.2";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class StompClient {
  onerror = null; // called with each ERROR frame ({command, headers, body})
  onclose = null; // called with the socket's close event

  #socket;
  #parser = new FrameParser((frame) => this.#received(frame));
  #version = "1.0";
  #connected = null; // {resolve, reject} of connect()
  #subscriptions = new Map(); // id -> callback
  #receipts = new Map(); // receipt id -> {resolve, reject}
  #counter = 0;
  #beats = []; // heart-beat timers
  #lastHeard = Date.now();

  constructor(socket) {
    this.#socket = socket;
    // A WebSocket to /stomp sends frames that are not UTF-8 as binary messages: take those as
    // bytes (an ArrayBuffer), not as a Blob the parser would have to wait for.
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      this.#lastHeard = Date.now();
      this.#parser.feed(event.data);
    };
    socket.onclose = (event) => this.#closed(event);
  }

  // CONNECT, and resolve with the CONNECTED frame (or reject with the ERROR frame).
  // heartbeat: [ms we promise to send within, ms we want to hear from the server within].
  connect({ login, passcode, host = location.hostname, heartbeat = [0, 0], headers = {} } = {}) {
    const frame = { "accept-version": VERSIONS, host, "heart-beat": heartbeat.join(","), ...headers };
    if (login !== undefined) Object.assign(frame, { login, passcode });
    const sent = new Promise((resolve, reject) => { this.#connected = { resolve, reject }; });
    const go = () => this.#write("CONNECT", frame);
    if (this.#socket.readyState === 1) go();
    else this.#socket.addEventListener("open", go, { once: true });
    return sent.then((connected) => {
      this.#version = connected.headers.version ?? "1.0";
      this.#startHeartBeats(heartbeat, connected.headers["heart-beat"]);
      return connected;
    });
  }

  // SUBSCRIBE; `callback` gets each MESSAGE, which has .ack() and .nack() for the
  // "client" and "client-individual" ack modes.
  // With {receipt: true}, `.receipt` is a promise of the server's RECEIPT: from then on
  // the subscription receives every message sent to the destination.
  subscribe(destination, callback, { ack = "auto", ...headers } = {}) {
    const id = `sub-${++this.#counter}`;
    this.#subscriptions.set(id, callback);
    const receipt = this.#send("SUBSCRIBE", { id, destination, ack, ...headers });
    return {
      id,
      receipt,
      unsubscribe: (more = {}) => {
        this.#subscriptions.delete(id);
        return this.#send("UNSUBSCRIBE", { id, ...more });
      },
    };
  }

  // SEND. With {receipt: true} the promise resolves when the server has the message.
  send(destination, body = "", headers = {}) {
    return this.#send("SEND", { destination, ...headers }, body);
  }

  // BEGIN a transaction; its sends and acks count only once commit() goes through.
  begin() {
    const transaction = `tx-${++this.#counter}`;
    this.#write("BEGIN", { transaction });
    return {
      id: transaction,
      send: (destination, body = "", headers = {}) =>
        this.send(destination, body, { ...headers, transaction }),
      ack: (message, headers = {}) => message.ack({ ...headers, transaction }),
      nack: (message, headers = {}) => message.nack({ ...headers, transaction }),
      commit: (headers = {}) => this.#send("COMMIT", { transaction, receipt: true, ...headers }),
      abort: (headers = {}) => this.#send("ABORT", { transaction, receipt: true, ...headers }),
    };
  }

  // DISCONNECT politely: wait for the server's receipt, then close the socket.
  async disconnect() {
    try {
      await this.#send("DISCONNECT", { receipt: true });
    } finally {
      this.#stopHeartBeats();
      this.#socket.close();
    }
  }

  // --- frames out -----------------------------------------------------------------------

  // Write a frame; with a `receipt` header (true picks an id) return a promise of the
  // RECEIPT, else a promise resolved at once.
  #send(command, { receipt, ...headers }, body = "") {
    if (!receipt) {
      this.#write(command, headers, body);
      return Promise.resolve();
    }
    const id = receipt === true ? `r-${++this.#counter}` : String(receipt);
    const promise = new Promise((resolve, reject) => this.#receipts.set(id, { resolve, reject }));
    this.#write(command, { ...headers, receipt: id }, body);
    return promise;
  }

  #write(command, headers, body = "") {
    const bytes = encoder.encode(body);
    const lines = [command];
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      lines.push(command === "CONNECT" ? `${name}:${value}` : `${escape(name)}:${escape(String(value))}`);
    }
    if (bytes.length > 0) lines.push(`content-length:${bytes.length}`);
    this.#socket.send(`${lines.join("\n")}\n\n${body}\0`);
  }

  #ack(command, message, headers) {
    // STOMP 1.2 acknowledges a message by its "ack" header; 1.0 and 1.1 by message-id
    // (and, in 1.1, the subscription).
    const id = this.#version === "1.2"
      ? { id: message.headers.ack }
      : { "message-id": message.headers["message-id"], subscription: message.headers.subscription };
    return this.#send(command, { ...id, ...headers });
  }

  // --- frames in ------------------------------------------------------------------------

  #received(frame) {
    const { command, headers } = frame;
    if (command === "CONNECTED") {
      this.#connected?.resolve(frame);
      this.#connected = null;
    } else if (command === "MESSAGE") {
      const callback = this.#subscriptions.get(headers.subscription);
      frame.ack = (more = {}) => this.#ack("ACK", frame, more);
      frame.nack = (more = {}) => this.#ack("NACK", frame, more);
      callback?.(frame);
    } else if (command === "RECEIPT") {
      this.#settle(headers["receipt-id"], (waiter) => waiter.resolve(frame));
    } else if (command === "ERROR") {
      this.#connected?.reject(frame);
      this.#connected = null;
      this.#settle(headers["receipt-id"], (waiter) => waiter.reject(frame));
      this.onerror?.(frame);
    }
  }

  #settle(receipt, how) {
    const waiter = this.#receipts.get(receipt);
    if (waiter === undefined) return;
    this.#receipts.delete(receipt);
    how(waiter);
  }

  #closed(event) {
    this.#stopHeartBeats();
    const gone = new Error(`the connection closed (${event.code}${event.reason ? `: ${event.reason}` : ""})`);
    this.#connected?.reject(gone);
    for (const waiter of this.#receipts.values()) waiter.reject(gone);
    this.#receipts.clear();
    this.onclose?.(event);
  }

  // --- heart-beats ------------------------------------------------------------------------

  // We said [cx, cy], the server said "sx,sy". We send every max(cx, sy) ms (a newline);
  // we expect something from it every max(cy, sx) ms, and give up after twice that.
  #startHeartBeats([cx, cy], answer = "0,0") {
    const [sx, sy] = answer.split(",").map(Number);
    if (cx > 0 && sy > 0) {
      this.#beats.push(setInterval(() => this.#socket.send("\n"), Math.max(cx, sy)));
    }
    if (cy > 0 && sx > 0) {
      const every = Math.max(cy, sx);
      this.#beats.push(setInterval(() => {
        if (Date.now() - this.#lastHeard > 2 * every) this.#socket.close(4100, "no heart-beat from the server");
      }, every));
    }
  }

  #stopHeartBeats() {
    this.#beats.forEach(clearInterval);
    this.#beats = [];
  }
}

// Reads frames out of a stream of strings or bytes, with content-length counted in bytes.
export class FrameParser {
  #buffer = new Uint8Array(0);

  constructor(onFrame) {
    this.onFrame = onFrame;
  }

  feed(data) {
    const more = typeof data === "string" ? encoder.encode(data)
      : data instanceof ArrayBuffer ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const buffer = new Uint8Array(this.#buffer.length + more.length);
    buffer.set(this.#buffer);
    buffer.set(more, this.#buffer.length);
    let start = 0;
    for (;;) {
      while (buffer[start] === 10 || buffer[start] === 13) start += 1; // heart-beats
      const end = this.#frameAt(buffer, start);
      if (end === null) break;
      start = end;
    }
    this.#buffer = buffer.slice(start);
  }

  // Parse the frame starting at `start`; return where it ends, or null if it is incomplete.
  #frameAt(buffer, start) {
    const blank = indexOfBlankLine(buffer, start);
    if (blank === null) return null;
    const head = decoder.decode(buffer.subarray(start, blank.at)).split(/\r?\n/);
    const command = head[0];
    const headers = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      const name = unescape(line.slice(0, colon));
      if (!(name in headers)) headers[name] = unescape(line.slice(colon + 1)); // first wins
    }
    const bodyStart = blank.after;
    let bodyEnd;
    if ("content-length" in headers) {
      bodyEnd = bodyStart + Number(headers["content-length"]);
      if (buffer.length <= bodyEnd) return null;
    } else {
      bodyEnd = buffer.indexOf(0, bodyStart);
      if (bodyEnd < 0) return null;
    }
    const body = decoder.decode(buffer.subarray(bodyStart, bodyEnd));
    this.onFrame({ command, headers, body });
    return bodyEnd + 1; // past the NUL
  }
}

// The end of a frame's head: a blank line ("\n\n" or "\r\n\r\n").
function indexOfBlankLine(buffer, start) {
  for (let i = start; i < buffer.length - 1; i += 1) {
    if (buffer[i] !== 10) continue;
    if (buffer[i + 1] === 10) return { at: i, after: i + 2 };
    if (buffer[i + 1] === 13 && buffer[i + 2] === 10) return { at: i, after: i + 3 };
  }
  return null;
}

// STOMP 1.1+ header escapes: backslash, newline, colon, carriage return.
function escape(text) {
  return text.replace(/[\\\n:\r]/g, (c) => ({ "\\": "\\\\", "\n": "\\n", ":": "\\c", "\r": "\\r" })[c]);
}

function unescape(text) {
  return text.replace(/\\([\\nrc])/g, (_, c) => ({ "\\": "\\", n: "\n", c: ":", r: "\r" })[c]);
}
