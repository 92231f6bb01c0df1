// Step 1: connect, subscribe, send. One room, no names: the smallest chat there is.
import { CometSocket } from "/static/comet.js";
import { StompClient } from "/static/stomp.js";

const ROOM = "/topic/chat.lobby";
const log = document.getElementById("log");
const input = document.getElementById("text");

// [connect]
const stomp = new StompClient(new CometSocket("/comet/"));
await stomp.connect({ host: location.hostname });
document.getElementById("status").textContent = "Connected";
// [/connect]

// [subscribe]
stomp.subscribe(ROOM, (message) => {
  const item = document.createElement("li");
  item.textContent = message.body; // text, never HTML: a message cannot become markup
  log.append(item);
});
// [/subscribe]

// [send]
document.getElementById("say").addEventListener("submit", (event) => {
  event.preventDefault(); // no page reload: the message goes over the socket
  stomp.send(ROOM, input.value);
  input.value = "";
});
// [/send]
