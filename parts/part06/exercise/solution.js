// Part 6 exercise, one solution: receipts as promises (see starter.js for the task).
// Check it with
//   python -m comet_core check 6 --file parts/part06/exercise/solution.js

// start-receipts
export class Receipts {
  #waiting = new Map(); // receipt id -> {resolve, reject}
  #counter = 0;

  expect() {
    const id = `r-${++this.#counter}`;
    const promise = new Promise((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    return { id, promise };
  }

  received(frame) {
    const id = frame.headers["receipt-id"];
    const waiter = this.#waiting.get(id);
    if (waiter === undefined) return; // not ours, or settled already
    if (frame.command === "RECEIPT") waiter.resolve(frame);
    else if (frame.command === "ERROR") waiter.reject(frame);
    else return;
    this.#waiting.delete(id); // forgotten once settled: the map does not grow
  }

  closed(error) {
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }
}
// end-receipts
