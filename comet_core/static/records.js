// The records of the comet wire protocol, read piece by piece.
//
// Long-poll answers, XHR streams and WebSocket messages from /comet/ carry their bytes as
// ASCII-headed records (docs/reference/comet-protocol.md):
//
//   d O L\n<L bytes>\n   data: the downstream bytes O to O+L
//   c REASON\n           the session is over: stop asking
//   e REASON\n           this response ends here: ask again
//   a A\n                (WebSocket only) the server applied A upstream bytes
//   \n                   keep-alive: ignore
//
// A stream can be cut anywhere by the network, so the reader keeps its place between
// calls to feed() and hands data on as soon as it has any: a record's first half is
// already good data (it says its own offset), so nothing waits for the second half.

const LF = 10;
const MAX_HEAD = 4096; // a head line longer than this is not our protocol

export class RecordReader {
  // `on` holds the callbacks: data(offset, bytes), closed(reason), ended(reason),
  // applied(count) and keepalive(). Missing ones are skipped.
  constructor(on) {
    this.on = on;
    this.head = new Uint8Array(0); // a head line's first part, while its LF is missing
    this.offset = 0; // where the data record being read continues
    this.left = 0; // its bytes still to come
    this.tail = false; // true while the LF after a record's data is still to come
    this.decoder = new TextDecoder();
  }

  feed(bytes) {
    let i = 0;
    while (i < bytes.length) {
      if (this.left > 0) {
        // Inside a data record: pass on whatever part of it this piece holds.
        const piece = bytes.subarray(i, i + this.left);
        this.on.data?.(this.offset, piece);
        this.offset += piece.length;
        this.left -= piece.length;
        i += piece.length;
        this.tail = this.left === 0;
      } else if (this.tail) {
        if (bytes[i] !== LF) throw new Error("comet: a data record must end with a newline");
        this.tail = false;
        i += 1;
      } else {
        const lf = bytes.indexOf(LF, i);
        const end = lf < 0 ? bytes.length : lf;
        this.head = concat(this.head, bytes.subarray(i, end));
        if (this.head.length > MAX_HEAD) throw new Error("comet: a record head is too long");
        if (lf < 0) return; // the rest of the line comes with the next piece
        const line = this.decoder.decode(this.head);
        this.head = new Uint8Array(0);
        i = lf + 1;
        this.#dispatch(line);
      }
    }
  }

  #dispatch(line) {
    const kind = line.slice(0, 1);
    const rest = line.slice(2);
    if (line === "") {
      this.on.keepalive?.();
    } else if (kind === "d") {
      const [offset, length] = rest.split(" ").map(Number);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length)) {
        throw new Error(`comet: a bad data record head: ${line}`);
      }
      this.offset = offset;
      this.left = length;
      this.tail = length === 0;
    } else if (kind === "c") {
      this.on.closed?.(rest);
    } else if (kind === "e") {
      this.on.ended?.(rest);
    } else if (kind === "a") {
      this.on.applied?.(Number(rest));
    } else {
      throw new Error(`comet: an unknown record: ${line.slice(0, 40)}`);
    }
  }
}

// Two byte arrays as one.
export function concat(a, b) {
  if (a.length === 0) return b.slice();
  if (b.length === 0) return a;
  const both = new Uint8Array(a.length + b.length);
  both.set(a, 0);
  both.set(b, a.length);
  return both;
}
