// Part 6 exercise: receipts as promises.
//
// A STOMP frame that carries a `receipt` header is answered by a RECEIPT frame whose
// `receipt-id` repeats it, once the server has handled the frame. If the server refuses the
// frame instead, its ERROR frame carries the same `receipt-id` (and then the connection
// ends). In the browser the natural shape for "tell me when it is done" is a Promise:
//
//   const { id, promise } = receipts.expect();
//   socket.send(`SEND\ndestination:/topic/a\nreceipt:${id}\n\nhi\0`);
//   await promise; // the server has the message
//
// Write the class below (the gaps marked YOUR CODE HERE):
// - expect() returns a new receipt id (a string, never used before by this object) and a
//   promise for it;
// - received(frame) is called with every frame from the server ({command, headers, body}):
//   a RECEIPT resolves the promise its receipt-id names, with the frame; an ERROR that names
//   a receipt-id rejects that promise, with the frame; anything else, or an id nobody waits
//   for, is ignored (and never throws);
// - closed(error) is called when the connection is gone: every promise still waiting
//   rejects with `error` (a promise left pending forever is a page that hangs).
// Check your work with
//   python -m comet_core check 6 --file parts/part06/exercise/starter.js
// which runs it in Chromium against a real server.

// start-receipts
export class Receipts {
  #waiting = new Map(); // receipt id -> {resolve, reject}
  #counter = 0;

  expect() {
    // YOUR CODE HERE: a fresh id, and a promise whose resolve and reject wait in #waiting.
    return { id: "", promise: new Promise(() => {}) };
  }

  received(frame) {
    // YOUR CODE HERE: settle the promise named by a RECEIPT's or an ERROR's receipt-id.
  }

  closed(error) {
    // YOUR CODE HERE: reject every promise still waiting.
  }
}
// end-receipts
