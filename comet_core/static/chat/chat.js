// The group chat served at /chat/: the last step of Part 7, with everything a real page
// needs on top of the steps: a transport menu, a queue of messages waiting to go (typing is
// never held up by the network), reconnecting when the comet session itself is gone, and
// switching rooms. The protocol with the server's chat service is in comet_core/chat.py.
//
// Every string that came from a user (nicknames, messages, room names) reaches the page
// through textContent, never innerHTML: `<img src=x onerror=alert(1)>` shows as text.
// And anyone may publish anything on a topic: everything received is checked first
// (lineProblem and its friends below); what fails is skipped with a console warning.

import { CometSocket } from "/static/comet.js";
import { StompClient } from "/static/stomp.js";

const ROOM_PREFIX = "/topic/chat.";
const SERVICE = "/queue/chat.service";
const REPLY_PREFIX = "/topic/chat.reply.";
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const JSON_TYPE = { "content-type": "application/json;charset=utf-8" };

const $ = (id) => document.getElementById(id);

// ---- what the page accepts ----
// The same rules as comet_core/chat.py's `chat_line` (lengths in characters as Python
// counts them: code points, not UTF-16 units). Each check returns what is wrong, or null.

const MAX_NICK = 32;
const MAX_TEXT = 2000;
const MAX_LIST = 10000; // history lines or members: the most a server sends (CHAT_LIST_MAX)
const LAST_AT = Date.UTC(2100, 0, 1); // the latest time a line may carry
const MESSAGE_ID = /^[A-Za-z0-9_-]{1,100}$/;
const CLIENT_ID = /^[A-Za-z0-9_-]{8,64}$/;
const NOT_TEXT = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/u; // controls, half surrogates
const NOT_PRINTABLE = /[\p{C}\p{Z}]/u; // what Python's str.isprintable refuses, but " "
const REASONS = ["left", "timed out", "renamed"];

const characters = (text) => [...text].length;
const within = (text, most) => characters(text) >= 1 && characters(text) <= most;

export function nickProblem(nick) {
  if (typeof nick !== "string" || !within(nick, MAX_NICK)) {
    return `its nick is not 1 to ${MAX_NICK} characters`;
  }
  if (NOT_PRINTABLE.test(nick.replaceAll(" ", "")) || nick.trim() !== nick) {
    return "its nick has characters that are not printable, or spaces at either end";
  }
  return null;
}

export function lineProblem(body) {
  if (!body || body.type !== "message") return "not a chat line";
  if (typeof body.id !== "string" || !MESSAGE_ID.test(body.id)) {
    return "its id is not 1 to 100 of A-Z a-z 0-9 _ -";
  }
  const nick = nickProblem(body.nick);
  if (nick) return nick;
  if (typeof body.text !== "string" || !within(body.text, MAX_TEXT)) {
    return `its text is not 1 to ${MAX_TEXT} characters`;
  }
  if (NOT_TEXT.test(body.text)) return "its text has control characters";
  if (!Number.isInteger(body.at) || body.at < 0 || body.at > LAST_AT) {
    return "its time is not a whole number of milliseconds from 1970 to 2100";
  }
  return null;
}

export function membersProblem(members) {
  if (!Array.isArray(members) || members.length > MAX_LIST) return "its members are not a list";
  const bad = members.find((nick) => nickProblem(nick));
  return bad === undefined ? null : `a member's name: ${nickProblem(bad)}`;
}

export function noticeProblem(body) {
  if (body.type !== "join" && body.type !== "leave") return "an unknown type";
  const nick = nickProblem(body.nick);
  if (nick) return nick;
  if (typeof body.client !== "string" || !CLIENT_ID.test(body.client)) {
    return "its client id is not one";
  }
  if (body.type === "leave" && !REASONS.includes(body.reason)) {
    return "its reason is not one of ours";
  }
  return membersProblem(body.members);
}

export function welcomeProblem(body) {
  if (!Array.isArray(body.history) || body.history.length > MAX_LIST) {
    return "its history is not a list";
  }
  if (typeof body.beat !== "number" || !(body.beat > 0)) {
    return "its beat is not a number of seconds";
  }
  return membersProblem(body.members);
}

/** A random id for this page: names its reply topic and its messages. */
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** An element with text in it (never parsed as HTML). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clockTime(at) {
  const date = new Date(at); // a valid line's time (lineProblem): always a real date
  const time = el("time", "", date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = date.toISOString();
  return time;
}

export class ChatApp {
  constructor() {
    this.client = randomId();
    this.serial = 0;
    this.nick = null;
    this.room = null;
    this.socket = null;
    this.stomp = null;
    this.connected = false;
    this.generation = 0; // bumps on each new connection; late callbacks of old ones are ignored
    this.roomSub = null;
    this.beatTimer = null;
    this.beatSeconds = 10;
    this.retryDelay = 500;
    this.shown = new Map(); // message id -> its <li>, so that a message is shown once
    this.outbox = new Map(); // message id -> message not yet confirmed by a RECEIPT
    this.received = []; // every message id delivered by the room subscription (for tests)
    this.skipped = []; // why each message received and not shown was skipped (for tests)
    this.wire();
    setInterval(() => this.showStatus(), 1000);
  }

  // ---- the page ----

  wire() {
    const params = new URLSearchParams(location.search);
    for (const name of ["nick", "room", "transport"]) {
      if (params.get(name)) $(name).value = params.get(name);
    }
    $("join").addEventListener("submit", (event) => {
      event.preventDefault();
      this.join($("nick").value.trim(), $("room").value.trim().toLowerCase());
    });
    $("leave").addEventListener("click", () => this.leave());
    $("transport").addEventListener("change", () => this.reconnect());
    $("say").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("text").value;
      if (!text.trim()) return;
      $("text").value = ""; // cleared at once: the message waits in the outbox, not the input
      this.say(text);
    });
    // Say goodbye when the page goes away; if it cannot, the service times us out.
    addEventListener("pagehide", () => this.request("leave"));
    if (params.get("nick") && params.get("room")) $("join").requestSubmit();
  }

  problem(text) {
    $("problem").hidden = !text;
    $("problem").textContent = text || "";
  }

  showStatus() {
    let text;
    if (this.connected) {
      text = `Connected via ${this.socket.transport || "?"}`;
    } else if (this.socket) {
      text = "Connecting…";
    } else {
      text = "Not connected";
    }
    if (this.outbox.size) text += ` · ${this.outbox.size} waiting to send`;
    if ($("status").textContent !== text) $("status").textContent = text;
  }

  // ---- the connection ----

  /** Open a comet socket with the chosen transport, and STOMP on it. */
  async connect() {
    const generation = ++this.generation;
    const choice = $("transport").value;
    const options = choice === "auto" ? {} : { transports: [choice] };
    const socket = (this.socket = new CometSocket("/comet/", options));
    const stomp = (this.stomp = new StompClient(socket));
    this.showStatus();
    socket.addEventListener("close", (event) => {
      if (generation !== this.generation) return;
      // The comet session is gone (the server restarted, or we were away too long): start
      // a new one. Within a session, the socket itself reconnects its transport.
      this.connected = false;
      this.stopBeats();
      this.problem(`Connection lost (${event.code} ${event.reason || ""}); reconnecting…`);
      setTimeout(() => this.generation === generation && this.connect(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, 15000);
    });
    stomp.onerror = (frame) => this.problem(`Server error: ${frame.headers?.message || ""}`);
    try {
      await stomp.connect({ host: location.hostname, heartbeat: [10000, 10000] });
    } catch (error) {
      return; // the close handler above retries
    }
    if (generation !== this.generation) return;
    this.connected = true;
    this.retryDelay = 500;
    this.problem("");
    stomp.subscribe(REPLY_PREFIX + this.client,
                    (message) => this.safely(message, () => this.onReply(message)));
    if (this.room) this.enter();
    for (const message of this.outbox.values()) this.transmit(message);
    this.showStatus();
  }

  /** Switch transport (or start over): a fresh session, then the same room again. */
  async reconnect() {
    const stomp = this.stomp;
    this.generation++;
    this.connected = false;
    this.stopBeats();
    if (stomp) Promise.resolve().then(() => stomp.disconnect()).catch(() => {});
    this.socket = this.stomp = null;
    if (this.room) await this.connect();
  }

  // ---- rooms ----

  async join(nick, room) {
    if (nickProblem(nick)) {
      return this.problem(`Pick a nickname of 1 to ${MAX_NICK} printable characters.`);
    }
    if (!ROOM_NAME.test(room)) {
      return this.problem("A room name is 1 to 32 characters: a-z, 0-9, - and _.");
    }
    this.problem("");
    if (this.room && this.connected) this.exit();
    this.nick = nick;
    this.room = room;
    this.shown.clear();
    $("log").replaceChildren();
    $("members").replaceChildren();
    $("room-title").textContent = `#${room}`;
    $("join-button").textContent = "Change";
    for (const id of ["leave", "text", "send"]) $(id).disabled = false;
    $("text").placeholder = "Say something";
    $("text").focus();
    if (this.connected) this.enter();
    else if (!this.socket) await this.connect();
  }

  /** Subscribe to the room, then ask the service in: it answers on our reply topic. */
  enter() {
    const room = this.room;
    this.roomSub = this.stomp.subscribe(ROOM_PREFIX + room, (message) => {
      if (room !== this.room) return; // a late one from the last room
      this.safely(message, () => this.onRoom(message));
    });
    this.request("join");
  }

  exit() {
    this.request("leave");
    this.stopBeats();
    if (this.roomSub) this.roomSub.unsubscribe();
    this.roomSub = null;
  }

  leave() {
    if (this.connected) this.exit();
    this.room = null;
    this.outbox.clear();
    $("room-title").textContent = "No room yet";
    $("join-button").textContent = "Join";
    for (const id of ["leave", "text", "send"]) $(id).disabled = true;
    $("members").replaceChildren();
    this.log(el("li", "notice", "You left the room."));
    this.reconnect();
  }

  request(type) {
    if (!this.connected || !this.room) return;
    const body = { type, room: this.room, nick: this.nick, client: this.client };
    this.stomp.send(SERVICE, JSON.stringify(body), JSON_TYPE);
  }

  startBeats() {
    this.stopBeats();
    this.beatTimer = setInterval(() => this.request("beat"), this.beatSeconds * 1000);
  }

  stopBeats() {
    clearInterval(this.beatTimer);
    this.beatTimer = null;
  }

  // ---- messages in ----

  /** Handle a message; whatever goes wrong stays here (a warning), never reaching the
   *  socket, which would take an error for a broken connection. */
  safely(message, handle) {
    try {
      handle();
    } catch (error) {
      this.skip(message.headers?.destination, String(error), message.body);
    }
  }

  skip(where, problem, what) {
    this.skipped.push(problem);
    console.warn(`chat: skipped a message from ${where}: ${problem}`, what);
  }

  parse(message) {
    let body = null;
    try {
      body = JSON.parse(message.body);
    } catch {
      // not JSON: below
    }
    if (body && typeof body === "object" && !Array.isArray(body)) return body;
    this.skip(message.headers?.destination, "not a JSON object", message.body);
    return null;
  }

  onReply(message) {
    const body = this.parse(message);
    if (!body || body.room !== this.room) return;
    if (body.type === "refused") {
      const reason = typeof body.reason === "string" ? body.reason.slice(0, 500) : "";
      this.problem(reason || "The server refused.");
      return;
    }
    const problem = body.type === "welcome" ? welcomeProblem(body) : "an unknown type";
    if (problem) return this.skip(message.headers.destination, problem, body);
    this.beatSeconds = Math.min(3600, Math.max(1, body.beat));
    this.startBeats();
    this.showMembers(body.members);
    // History goes above whatever arrived live meanwhile; ids already shown are skipped,
    // and so are lines that are not valid (the others are all shown).
    const first = $("log").firstChild;
    let earlier = false;
    for (const entry of body.history) {
      const bad = lineProblem(entry);
      if (bad) {
        this.skip(message.headers.destination, `in the history: ${bad}`, entry);
        continue;
      }
      if (this.shown.has(entry.id)) continue;
      $("log").insertBefore(this.line(entry), first);
      earlier = true;
    }
    if (earlier) {
      $("log").insertBefore(el("li", "divider", "earlier messages above"), first);
    }
    this.scroll();
  }

  onRoom(message) {
    const body = this.parse(message);
    if (!body) return;
    const problem = body.type === "message" ? lineProblem(body) : noticeProblem(body);
    if (problem) return this.skip(message.headers.destination, problem, body);
    if (body.type === "message") {
      this.received.push(body.id);
      const known = this.shown.get(body.id);
      if (known) {
        this.confirm(body.id, known); // our own message, back from the room
      } else {
        this.log(this.line(body));
      }
    } else {
      const who = body.nick;
      const what = body.type === "join" ? "joined"
        : body.reason === "timed out" ? "left (timed out)"
        : body.reason === "renamed" ? "changed name"
        : "left";
      this.log(el("li", "notice", `${who} ${what}`));
      this.showMembers(body.members);
    }
  }

  line(message) {
    const item = el("li", "message");
    item.append(clockTime(message.at), el("span", "nick", message.nick),
                el("span", "text", message.text));
    this.shown.set(message.id, item);
    return item;
  }

  log(item) {
    $("log").append(item);
    this.scroll();
  }

  scroll() {
    $("log").scrollTop = $("log").scrollHeight;
  }

  showMembers(members) { // checked already (membersProblem)
    $("members").replaceChildren(...members.map((nick) => el("li", "", nick)));
    $("members-title").textContent = `Here now (${members.length})`;
  }

  // ---- messages out ----

  /** Show the message at once as pending, queue it, and send it when we can. */
  say(typed) {
    // As every page checks it: no control characters (a pasted tab), 2,000 characters.
    const clean = typed.replace(new RegExp(NOT_TEXT, "gu"), " ");
    const text = [...clean].slice(0, MAX_TEXT).join("");
    const message = {
      type: "message", id: `${this.client}-${++this.serial}`, nick: this.nick, text,
      at: Date.now(), room: this.room,
    };
    const item = this.line(message);
    item.classList.add("pending");
    item.append(el("span", "state", "sending…"));
    this.log(item);
    this.outbox.set(message.id, message);
    this.transmit(message);
    this.showStatus();
  }

  transmit(message) {
    if (!this.connected) return; // sent by connect() once we are back
    const { room, ...body } = message;
    const sent = this.stomp.send(ROOM_PREFIX + room, JSON.stringify(body),
                                 { ...JSON_TYPE, receipt: true });
    Promise.resolve(sent).then(
      () => this.confirm(message.id, this.shown.get(message.id)),
      () => {}, // the connection dropped: it stays in the outbox and goes again
    );
  }

  confirm(id, item) {
    this.outbox.delete(id);
    if (item && item.classList.contains("pending")) {
      item.classList.remove("pending");
      item.querySelector(".state").textContent = "sent";
    }
    this.showStatus();
  }
}

window.chat = new ChatApp();
