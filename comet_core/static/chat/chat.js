// The group chat served at /chat/: the last step of Part 7, with everything a real page
// needs on top of the steps: a transport menu, a queue of messages waiting to go (typing is
// never held up by the network), reconnecting when the comet session itself is gone, and
// switching rooms. The protocol with the server's chat service is in comet_core/chat.py.
//
// Every string that came from a user (nicknames, messages, room names) reaches the page
// through textContent, never innerHTML: `<img src=x onerror=alert(1)>` shows as text.

import { CometSocket } from "/static/comet.js";
import { StompClient } from "/static/stomp.js";

const ROOM_PREFIX = "/topic/chat.";
const SERVICE = "/queue/chat.service";
const REPLY_PREFIX = "/topic/chat.reply.";
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const JSON_TYPE = { "content-type": "application/json;charset=utf-8" };

const $ = (id) => document.getElementById(id);

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
  const date = typeof at === "number" ? new Date(at) : new Date();
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
    stomp.subscribe(REPLY_PREFIX + this.client, (message) => this.onReply(message));
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
    if (!nick || nick.length > 32) return this.problem("Pick a nickname of 1 to 32 characters.");
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
      if (room === this.room) this.onRoom(message); // not a late one from the last room
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

  parse(message) {
    try {
      const body = JSON.parse(message.body);
      return body && typeof body === "object" ? body : null;
    } catch {
      return null; // not one of ours: ignore it
    }
  }

  onReply(message) {
    const body = this.parse(message);
    if (!body || body.room !== this.room) return;
    if (body.type === "refused") {
      this.problem(body.reason);
      return;
    }
    if (body.type !== "welcome") return;
    this.beatSeconds = Math.max(1, Number(body.beat) || 10);
    this.startBeats();
    this.showMembers(body.members);
    // History goes above whatever arrived live meanwhile; ids already shown are skipped.
    const first = $("log").firstChild;
    let earlier = false;
    for (const entry of Array.isArray(body.history) ? body.history : []) {
      if (typeof entry.id !== "string" || this.shown.has(entry.id)) continue;
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
    if (body.type === "message" && typeof body.id === "string") {
      this.received.push(body.id);
      const known = this.shown.get(body.id);
      if (known) {
        this.confirm(body.id, known); // our own message, back from the room
      } else {
        this.log(this.line(body));
      }
    } else if (body.type === "join" || body.type === "leave") {
      const who = String(body.nick);
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
    item.append(clockTime(message.at), el("span", "nick", String(message.nick)),
                el("span", "text", String(message.text)));
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

  showMembers(members) {
    const list = Array.isArray(members) ? members : [];
    $("members").replaceChildren(...list.map((nick) => el("li", "", String(nick))));
    $("members-title").textContent = `Here now (${list.length})`;
  }

  // ---- messages out ----

  /** Show the message at once as pending, queue it, and send it when we can. */
  say(text) {
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
