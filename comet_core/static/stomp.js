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

// The codes StompClient closes its socket with (beside CometSocket's 4000-4003 in comet.js).
export const CloseCodes = Object.freeze({
  NO_HEARTBEAT: 4100, // nothing came from the server for twice the agreed heart-beat time
  FRAME_TOO_LARGE: 4101, // a frame would not fit in `maxFrameBytes` (or had a bad length)
});
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
  #tooLarge = false;

  // `maxFrameBytes` bounds what the parser holds of a frame still coming in (16 MiB).
  constructor(socket, { maxFrameBytes = FrameParser.MAX_BYTES } = {}) {
    this.#socket = socket;
    this.#parser.maxBytes = maxFrameBytes;
    // A WebSocket to /stomp sends frames that are not UTF-8 as binary messages: take those as
    // bytes (an ArrayBuffer), not as a Blob the parser would have to wait for.
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      this.#lastHeard = Date.now();
      if (this.#tooLarge) return;
      try {
        this.#parser.feed(event.data);
      } catch (error) {
        if (!(error instanceof FrameTooLarge)) throw error;
        this.#tooLarge = true; // read nothing more: the stream is out of step now
        this.#socket.close(CloseCodes.FRAME_TOO_LARGE, error.message);
      }
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
        if (Date.now() - this.#lastHeard > 2 * every) {
          this.#socket.close(CloseCodes.NO_HEARTBEAT, "no heart-beat from the server");
        }
      }, every));
    }
  }

  #stopHeartBeats() {
    this.#beats.forEach(clearInterval);
    this.#beats = [];
  }
}

// Reads frames out of a stream of strings or bytes, with content-length counted in bytes.
//
// A big frame may come in thousands of small messages, so the bytes are kept in one growable
// buffer: a message is appended after what is held (the buffer doubles when full, and what
// was read is dropped from its front only then), and each search resumes where the last one
// stopped. So every byte is copied and scanned a bounded number of times, not once per
// message. What it holds is bounded by `maxBytes`: past that, feed() throws FrameTooLarge
// (StompClient then closes the socket with CloseCodes.FRAME_TOO_LARGE) rather than grow.
export class FrameParser {
  static MAX_BYTES = 16 * 1024 * 1024;

  #bytes = new Uint8Array(4096);
  #start = 0; // the first byte not yet read into a frame
  #end = 0; // the end of the bytes held
  #head = null; // the parsed head of a frame whose body is still coming
  #scanned = 0; // how far past #start a search came without finding its end

  constructor(onFrame, { maxBytes = FrameParser.MAX_BYTES } = {}) {
    this.onFrame = onFrame;
    this.maxBytes = maxBytes;
  }

  // Bytes held: the start of a frame not complete yet.
  get held() {
    return this.#end - this.#start;
  }

  feed(data) {
    const more = typeof data === "string" ? encoder.encode(data)
      : data instanceof ArrayBuffer ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (this.held + more.length > this.maxBytes) {
      throw new FrameTooLarge(`a frame is larger than ${this.maxBytes} bytes`);
    }
    this.#append(more);
    this.#parse();
  }

  #append(more) {
    const held = this.held;
    const needed = held + more.length;
    if (this.#end + more.length > this.#bytes.length) {
      // Full: move what is held to the front, into a buffer at most half full afterwards,
      // so the next move is at least as many appended bytes away as this one copies.
      let size = this.#bytes.length;
      while (size < 2 * needed) size *= 2;
      const bytes = size === this.#bytes.length ? this.#bytes : new Uint8Array(size);
      if (bytes === this.#bytes) bytes.copyWithin(0, this.#start, this.#end);
      else bytes.set(this.#bytes.subarray(this.#start, this.#end));
      this.#bytes = bytes;
      this.#start = 0;
      this.#end = held;
    }
    this.#bytes.set(more, this.#end);
    this.#end += more.length;
  }

  #parse() {
    const bytes = this.#bytes;
    for (;;) {
      if (this.#head === null) {
        while (this.#start < this.#end && (bytes[this.#start] === 10 || bytes[this.#start] === 13)) {
          this.#start += 1; // heart-beats between frames
        }
        this.#scanned = Math.max(this.#scanned - 2, 0); // a blank line is up to 3 bytes
        const blank = indexOfBlankLine(bytes, this.#start + this.#scanned, this.#end);
        if (blank === null) {
          this.#scanned = this.held;
          break;
        }
        this.#head = this.#readHead(bytes.subarray(this.#start, blank.at), blank.after);
        this.#scanned = 0;
      }
      const { command, headers, bodyAt, length } = this.#head;
      const bodyStart = this.#start + bodyAt;
      let bodyEnd;
      if (length !== null) {
        bodyEnd = bodyStart + length;
        if (this.#end <= bodyEnd) break;
      } else {
        const from = Math.max(bodyStart, this.#start + this.#scanned);
        const nul = bytes.subarray(0, this.#end).indexOf(0, from);
        if (nul < 0) {
          this.#scanned = this.held;
          break;
        }
        bodyEnd = nul;
      }
      const body = decoder.decode(bytes.subarray(bodyStart, bodyEnd));
      this.#start = bodyEnd + 1; // past the NUL
      this.#head = null;
      this.#scanned = 0;
      this.onFrame({ command, headers, body });
    }
    if (this.#start === this.#end) {
      // Nothing held: start again at the front (and let go of a buffer a big frame grew).
      this.#start = this.#end = 0;
      if (this.#bytes.length > 65536) this.#bytes = new Uint8Array(4096);
    }
  }

  // A frame's command and headers; where its body starts (from #start) and how long it is
  // (null: up to the NUL).
  #readHead(head, after) {
    const lines = decoder.decode(head).split(/\r?\n/);
    const command = lines[0].replace(/\r$/, "");
    const headers = {};
    for (const line of lines.slice(1)) {
      const text = line.replace(/\r$/, "");
      const colon = text.indexOf(":");
      const name = unescape(text.slice(0, colon));
      if (!(name in headers)) headers[name] = unescape(text.slice(colon + 1)); // first wins
    }
    let length = null;
    if ("content-length" in headers) {
      length = Number(headers["content-length"]);
      if (!Number.isSafeInteger(length) || length < 0) {
        throw new FrameTooLarge(`bad content-length: ${headers["content-length"]}`);
      }
      if (after - this.#start + length + 1 > this.maxBytes) {
        throw new FrameTooLarge(`a frame is larger than ${this.maxBytes} bytes`);
      }
    }
    return { command, headers, bodyAt: after - this.#start, length };
  }
}

// What FrameParser.feed throws for a frame it will not hold.
export class FrameTooLarge extends RangeError {
  name = "FrameTooLarge";
}

// The end of a frame's head: a blank line ("\n\n" or "\r\n\r\n").
function indexOfBlankLine(buffer, start, end) {
  const held = buffer.subarray(0, end);
  for (let i = held.indexOf(10, start); i >= 0 && i < end - 1; i = held.indexOf(10, i + 1)) {
    if (buffer[i + 1] === 10) return { at: i, after: i + 2 };
    if (buffer[i + 1] === 13 && i + 2 < end && buffer[i + 2] === 10) return { at: i, after: i + 3 };
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
