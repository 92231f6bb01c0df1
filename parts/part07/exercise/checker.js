// The browser half of Part 7's check (check.py serves it next to the student's file as
// ./student.js). One page publishes messages to a chat room through a CometSocket, as a
// chat page does; another subscribes to the room and shows each message with the student's
// line(); then every line is inspected: the nick and text shown exactly as sent, as
// characters, and no element or event handler that came from a message.

import { CometSocket } from "/static/comet.js";
import { StompClient } from "/static/stomp.js";

const WAIT = 10000; // ms: the bound on the messages' trip through the server

// [what it proves, nick, text]
const CASES = [
  ["a plain message", "ann", "hello, room"],
  ["an image with an error handler", "eve", "<img src=x onerror=\"window.injected = 'img'\">"],
  ["markup in the nickname", "<b onmouseover=\"window.injected = 'b'\">eve</b>", "hi"],
  ["a script element", "eve", "<script>window.injected = 'script'</script>"],
  ["a closing tag that tries to add a span", "eve", "</span><span class=\"nick\">mallory"],
  ["an HTML entity, meant as its characters", "ann", "5 &lt; 6 &amp;&amp; 7 &gt; 6"],
  ["spaces and a line break", "ann", "  two\nlines  "],
  ["a number and null", 42, null],
  ["characters beyond ASCII", "zoë", "😀 ok — ça va"],
];

// A promise that resolves at the first of: `done` called, or `ms` passed.
function deadline(ms) {
  let done;
  const promise = new Promise((resolve) => {
    done = resolve;
    setTimeout(resolve, ms);
  });
  return { promise, done };
}

function judge(item, nick, text) {
  if (!(item instanceof HTMLLIElement)) {
    return `line() returned ${item?.constructor?.name ?? String(item)}; it must return an <li> element.`;
  }
  const elements = [...item.querySelectorAll("*")];
  const stray = elements.filter((el) => !(el.tagName === "SPAN" && ["nick", "text"].includes(el.className))
    && el.tagName !== "TIME");
  if (stray.length > 0) {
    return `the message became markup: the line holds ${stray.map((el) => `<${el.tagName.toLowerCase()}>`).join(", ")}` +
      " that came from the message itself.";
  }
  const handlers = [item, ...elements].flatMap((el) => [...el.attributes].map((a) => a.name))
    .filter((name) => name.startsWith("on"));
  if (handlers.length > 0) return `the line carries event handlers from the message: ${handlers.join(", ")}.`;
  const nicks = item.querySelectorAll("span.nick");
  const texts = item.querySelectorAll("span.text");
  if (nicks.length !== 1 || texts.length !== 1) {
    return `the line has ${nicks.length} span.nick and ${texts.length} span.text; it needs one of each.`;
  }
  if (nicks[0].textContent !== String(nick)) {
    return `the nick ${JSON.stringify(String(nick))} shows as ${JSON.stringify(nicks[0].textContent)}.`;
  }
  if (texts[0].textContent !== String(text)) {
    return `the text ${JSON.stringify(String(text))} shows as ${JSON.stringify(texts[0].textContent)}.`;
  }
  return null;
}

export async function check() {
  let line;
  try {
    ({ line } = await import("./student.js"));
  } catch (error) {
    return { error: `your file could not be loaded as a module: ${error}`, results: [] };
  }
  if (typeof line !== "function") return { error: "your file exports no function line", results: [] };

  const room = `/topic/chat.exercise-${Math.random().toString(36).slice(2, 10)}`;
  const reader = new StompClient(new CometSocket("/comet/"));
  const writer = new StompClient(new CometSocket("/comet/"));
  await Promise.all([reader.connect({ host: "localhost" }), writer.connect({ host: "localhost" })]);
  const log = document.getElementById("log");
  const shown = new Map(); // case number -> the <li> or the error
  const all = deadline(WAIT);
  await reader.subscribe(room, (message) => {
    const body = JSON.parse(message.body);
    let item;
    try {
      item = line(body);
      log.append(item); // in the page, as the chat does: this is where markup would run
    } catch (error) {
      item = error;
    }
    shown.set(body.n, item);
    if (shown.size === CASES.length) all.done();
  }, { receipt: true }).receipt;
  for (const [n, [, nick, text]] of CASES.entries()) {
    await writer.send(room, JSON.stringify({ n, nick, text, at: Date.now() }), { receipt: true });
  }
  await all.promise;

  const results = CASES.map(([what, nick, text], n) => {
    const item = shown.get(n);
    if (item === undefined) return { what, problem: "the message never came back from the server." };
    if (item instanceof Error) return { what, problem: `line() threw ${item}` };
    return { what, problem: judge(item, nick, text) };
  });
  if (window.injected !== undefined) {
    results.push({ what: "code in messages", problem: `code from a message ran (window.injected = ${JSON.stringify(window.injected)}).` });
  }
  return { results };
}
