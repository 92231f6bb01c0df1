// Step 4: the last messages, shown on joining. The service keeps each room's latest lines
// (it listens on the room like everyone else) and sends them in its welcome. We subscribed
// before asking, so a line said meanwhile can come both live and in the history: each
// message has an id, and an id is shown once.
import { CometSocket } from "/static/comet.js";
import { StompClient } from "/static/stomp.js";

const ROOM_PREFIX = "/topic/chat.";
const SERVICE = "/queue/chat.service";
const REPLY_PREFIX = "/topic/chat.reply.";
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const $ = (id) => document.getElementById(id);

// A random id for this page: it names our reply topic and our messages.
const client = Array.from(crypto.getRandomValues(new Uint8Array(9)),
                          (b) => b.toString(16).padStart(2, "0")).join("");
let nick = null;
let room = null;
let subscription = null;
let beats = null;
let serial = 0;
const shown = new Set(); // ids of the messages on the page

const stomp = new StompClient(new CometSocket("/comet/"));
await stomp.connect({ host: location.hostname });
$("status").textContent = "Connected";
stomp.subscribe(REPLY_PREFIX + client, onReply);

// [request]
function request(type) {
  if (!room) return;
  stomp.send(SERVICE, JSON.stringify({ type, room, nick, client }));
}
// [/request]

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("room").value.trim().toLowerCase();
  if (!ROOM_NAME.test(name)) {
    $("problem").textContent = "A room name is 1 to 32 characters: a-z, 0-9, - and _.";
    return;
  }
  $("problem").textContent = "";
  if (subscription) {
    request("leave");
    subscription.unsubscribe();
  }
  nick = $("nick").value.trim();
  room = name;
  $("room-title").textContent = `#${room}`;
  $("log").replaceChildren();
  shown.clear();
  // Subscribe first, then ask: the frames reach the server in this order, so the join
  // notice the service publishes finds us listening.
  subscription = stomp.subscribe(ROOM_PREFIX + room, onRoom);
  request("join");
});
addEventListener("pagehide", () => request("leave")); // when we can; else beats stop

// [reply]
function onReply(message) {
  const body = parse(message);
  if (!body || body.room !== room) return;
  if (body.type === "refused") {
    $("problem").textContent = body.reason;
  } else if (body.type === "welcome") {
    showMembers(body.members);
    // [history]
    const first = $("log").firstChild; // the history goes above what came live
    for (const entry of Array.isArray(body.history) ? body.history : []) {
      if (!shown.has(entry.id)) $("log").insertBefore(line(entry), first);
    }
    // [/history]
    clearInterval(beats);
    beats = setInterval(() => request("beat"), Math.max(1, Number(body.beat)) * 1000);
  }
}
// [/reply]

// [room]
function onRoom(message) {
  const body = parse(message);
  if (!body) return;
  if (body.type === "message") {
    if (!shown.has(body.id)) $("log").append(line(body));
  } else if (body.type === "join" || body.type === "leave") {
    const what = body.type === "join" ? "joined"
      : body.reason === "timed out" ? "left (timed out)" : "left";
    const notice = document.createElement("li");
    notice.className = "notice";
    notice.textContent = `${body.nick} ${what}`;
    $("log").append(notice);
    showMembers(body.members);
  }
}
// [/room]

function showMembers(members) {
  $("members").replaceChildren(...(Array.isArray(members) ? members : []).map((name) => {
    const item = document.createElement("li");
    item.textContent = String(name);
    return item;
  }));
}

function parse(message) {
  try {
    const body = JSON.parse(message.body);
    return body && typeof body === "object" ? body : null;
  } catch {
    return null;
  }
}

function line(body) {
  shown.add(body.id);
  const item = document.createElement("li");
  item.className = "message";
  const who = document.createElement("span");
  who.className = "nick";
  who.textContent = String(body.nick);
  const what = document.createElement("span");
  what.className = "text";
  what.textContent = String(body.text);
  item.append(who, what);
  return item;
}

$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!room) return;
  const body = { type: "message", id: `${client}-${++serial}`, nick, text: $("text").value,
                 at: Date.now() };
  stomp.send(ROOM_PREFIX + room, JSON.stringify(body));
  $("text").value = "";
});
