// The browser half of Part 6's check (check.py serves it next to the student's file as
// ./student.js, and reads the report it returns). First the class on its own, fed frames
// by hand; then on a real CometSocket to the server: SENDs answered by RECEIPTs, a frame
// the broker refuses, and the end of the session.

import { CometSocket } from "/static/comet.js";
import { FrameParser } from "/static/stomp.js";

const WAIT = 10000; // ms: the bound on any answer from the server

// The state of a promise: a settled one wins the race against a zero timer (promise
// reactions run before timers), a pending one loses it, or loses after `ms`.
function state(promise, ms = 0) {
  const timer = new Promise((resolve) => setTimeout(() => resolve({ state: "pending" }), ms));
  const settled = Promise.resolve(promise).then(
    (value) => ({ state: "resolved", value }),
    (reason) => ({ state: "rejected", reason }),
  );
  return Promise.race([settled, timer]);
}

function show(value) {
  if (value && typeof value === "object" && "command" in value) return `a ${value.command} frame`;
  if (value instanceof Error) return `Error(${JSON.stringify(value.message)})`;
  return JSON.stringify(value) ?? String(value);
}

function frame(command, headers = {}, body = "") {
  return { command, headers, body };
}

const escape = (text) => String(text).replace(/[\\\n:\r]/g,
  (c) => ({ "\\": "\\\\", "\n": "\\n", ":": "\\c", "\r": "\\r" })[c]);

async function offline(Receipts, results) {
  const record = (what, problem) => results.push({ what, problem });
  const receipts = new Receipts();
  const [a, b, c] = [receipts.expect(), receipts.expect(), receipts.expect()];
  const ids = [a, b, c].map((x) => x?.id);
  if (!ids.every((id) => typeof id === "string" && id !== "")) {
    return record("expect()", `gave the ids ${show(ids)}: each must be a non-empty string.`);
  }
  if (new Set(ids).size !== 3) {
    return record("expect()", `gave the ids ${show(ids)} for three receipts: they must differ.`);
  }
  if (![a, b, c].every((x) => x.promise instanceof Promise)) {
    return record("expect()", "must return {id, promise} with a Promise.");
  }
  record("expect()", null);

  const receipt = frame("RECEIPT", { "receipt-id": b.id });
  receipts.received(receipt);
  let got = await state(b.promise);
  if (got.state !== "resolved" || got.value !== receipt) {
    record("a RECEIPT", `after a RECEIPT with receipt-id ${b.id}, its promise is ${got.state}` +
      `${got.state === "pending" ? "" : ` with ${show(got.value ?? got.reason)}`}; it must ` +
      "resolve with that frame.");
  } else if ((await state(a.promise)).state !== "pending" || (await state(c.promise)).state !== "pending") {
    record("a RECEIPT", `the RECEIPT for ${b.id} settled the promises of other ids too.`);
  } else {
    record("a RECEIPT", null);
  }

  const forC = frame("RECEIPT", { "receipt-id": c.id });
  const forA = frame("RECEIPT", { "receipt-id": a.id });
  receipts.received(forC);
  receipts.received(forA);
  const [gotA, gotC] = [await state(a.promise), await state(c.promise)];
  record("RECEIPTs in another order", gotA.value === forA && gotC.value === forC ? null
    : `RECEIPTs for ${c.id} then ${a.id}: the promises are ${gotA.state} and ${gotC.state}; ` +
      "each must resolve with its own frame.");

  const d = receipts.expect();
  const error = frame("ERROR", { "receipt-id": d.id, message: "refused" }, "no destination");
  receipts.received(error);
  got = await state(d.promise);
  record("an ERROR naming a receipt", got.state === "rejected" && got.reason === error ? null
    : `after an ERROR with receipt-id ${d.id}, its promise is ${got.state}; it must reject ` +
      "with the ERROR frame (the server refused that frame).");

  const e = receipts.expect();
  try {
    receipts.received(frame("MESSAGE", { subscription: "0", "message-id": "7", destination: "/topic/a" }, "hi"));
    receipts.received(frame("RECEIPT", { "receipt-id": "nobody-waits-for-this" }));
    receipts.received(frame("RECEIPT", { "receipt-id": b.id })); // settled already
    receipts.received(frame("CONNECTED", { version: "1.2" }));
    got = await state(e.promise);
    record("frames that are not for it", got.state === "pending" ? null
      : `a MESSAGE, a RECEIPT for an unknown id and a repeated RECEIPT settled the promise of ${e.id}.`);
  } catch (err) {
    record("frames that are not for it", `received() threw ${err}; a MESSAGE, a RECEIPT ` +
      "nobody waits for, or a RECEIPT that comes twice must be ignored.");
  }

  const [f, g] = [receipts.expect(), receipts.expect()];
  const gone = new Error("the connection closed");
  receipts.closed(gone);
  const after = await Promise.all([e, f, g].map((x) => state(x.promise)));
  record("closed()", after.every((x) => x.state === "rejected" && x.reason === gone) ? null
    : `after closed(error), the waiting promises are ${after.map((x) => x.state).join(", ")}; ` +
      "each must reject with that error.");
}

async function online(Receipts, results) {
  const record = (what, problem) => results.push({ what, problem });
  const receipts = new Receipts();
  const threw = [];
  let connected = null;
  const parser = new FrameParser((f) => {
    if (f.command === "CONNECTED") connected?.(f);
    try {
      receipts.received(f);
    } catch (err) {
      threw.push(`${err} (on a ${f.command} frame)`);
    }
  });
  const socket = new CometSocket("/comet/");
  socket.onmessage = (event) => parser.feed(event.data);
  const closed = new Promise((resolve) => {
    socket.onclose = (event) => {
      receipts.closed(new Error(`the connection closed (${event.code})`));
      resolve(event);
    };
  });
  await new Promise((resolve) => { socket.onopen = resolve; });
  const hello = new Promise((resolve) => { connected = resolve; });
  socket.send("CONNECT\naccept-version:1.2\nhost:localhost\n\n\0");
  if ((await state(hello, WAIT)).state !== "resolved") {
    return record("with the server", "no CONNECTED frame came from the server.");
  }

  const sends = [1, 2, 3].map((n) => {
    const { id, promise } = receipts.expect();
    socket.send(`SEND\ndestination:/topic/exercise-6\nreceipt:${escape(id)}\n\nmessage ${n}\0`);
    return { id, promise };
  });
  const answers = await Promise.all(sends.map((s) => state(s.promise, WAIT)));
  const wrong = answers.findIndex((x, i) => x.state !== "resolved"
    || x.value?.command !== "RECEIPT" || x.value?.headers?.["receipt-id"] !== sends[i].id);
  record("three SENDs with receipts, over a CometSocket", wrong < 0 ? null
    : `the promise of the SEND with receipt ${sends[wrong].id} is ${answers[wrong].state}` +
      `${answers[wrong].state === "pending" ? ` after ${WAIT / 1000} s` : ` with ${show(answers[wrong].value ?? answers[wrong].reason)}`}` +
      "; it must resolve with the server's RECEIPT.");

  const lost = receipts.expect(); // never sent: only the end of the connection settles it
  const bad = receipts.expect();
  socket.send(`SEND\nreceipt:${escape(bad.id)}\n\na SEND without a destination\0`);
  const refused = await state(bad.promise, WAIT);
  record("a frame the broker refuses", refused.state === "rejected" && refused.reason?.command === "ERROR"
    ? null : `the promise of a SEND without a destination is ${refused.state}` +
      `${refused.state === "pending" ? "" : ` with ${show(refused.value ?? refused.reason)}`}; ` +
      "the broker answered with an ERROR frame naming its receipt: it must reject with it.");
  await state(closed, WAIT);
  const end = await state(lost.promise, WAIT);
  record("the end of the session", end.state === "rejected" ? null
    : `the session ended, and the promise of a receipt still waiting is ${end.state}; ` +
      "closed() must reject it.");
  if (threw.length > 0) record("received()", `threw: ${threw.join("; ")}`);
}

export async function check() {
  let Receipts;
  try {
    ({ Receipts } = await import("./student.js"));
  } catch (error) {
    return { error: `your file could not be loaded as a module: ${error}`, results: [] };
  }
  if (typeof Receipts !== "function") {
    return { error: "your file exports no class Receipts", results: [] };
  }
  const results = [];
  try {
    await offline(Receipts, results);
  } catch (error) {
    results.push({ what: "fed frames by hand", problem: `your code threw ${error}` });
  }
  // Without working ids there is nothing to try on the server.
  if (results.length === 0 || results[0].problem !== null) return { results };
  try {
    await online(Receipts, results);
  } catch (error) {
    results.push({ what: "with the server", problem: `your code threw ${error}` });
  }
  return { results };
}
