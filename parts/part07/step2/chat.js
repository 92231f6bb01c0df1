// Step 2: nicknames and rooms. A room is a topic, /topic/chat.NAME; a message is a small
// JSON object that says who wrote it.
import { CometSocket } from "/static/comet.js";
import { StompClient } from "/static/stomp.js";

const ROOM_PREFIX = "/topic/chat.";
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/; // the same rule as the server's
const $ = (id) => document.getElementById(id);

const stomp = new StompClient(new CometSocket("/comet/"));
await stomp.connect({ host: location.hostname });
$("status").textContent = "Connected";

let nick = null;
let room = null;
let subscription = null;

// [join]
$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("room").value.trim().toLowerCase();
  if (!ROOM_NAME.test(name)) {
    $("problem").textContent = "A room name is 1 to 32 characters: a-z, 0-9, - and _.";
    return;
  }
  $("problem").textContent = "";
  if (subscription) subscription.unsubscribe(); // one room at a time
  nick = $("nick").value.trim();
  room = name;
  $("room-title").textContent = `#${room}`;
  $("log").replaceChildren();
  subscription = stomp.subscribe(ROOM_PREFIX + room, show);
});
// [/join]

// [show]
function show(message) {
  let body;
  try {
    body = JSON.parse(message.body);
  } catch {
    return; // anyone may publish anything on a topic: ignore what is not ours
  }
  const item = document.createElement("li");
  const who = document.createElement("span");
  who.className = "nick";
  who.textContent = String(body.nick);
  const what = document.createElement("span");
  what.className = "text";
  what.textContent = String(body.text);
  item.append(who, what);
  $("log").append(item);
}
// [/show]

$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!room) return;
  stomp.send(ROOM_PREFIX + room, JSON.stringify({ nick, text: $("text").value }));
  $("text").value = "";
});
