// Part 6: the smallest page that speaks STOMP through a comet socket. It subscribes to
// /topic/hello, shows what arrives there (from this page, another tab, or a Python script
// over TCP), and sends what you type. Served by `serve` at /part06/hello/.
import { CometSocket } from "/static/comet.js";
import { StompClient } from "/static/stomp.js";

const TOPIC = "/topic/hello";
const log = document.getElementById("log");

function note(text) {
  const item = document.createElement("li");
  item.textContent = text; // text, never HTML
  log.append(item);
}

// [socket]
const forced = new URLSearchParams(location.search).get("transport");
const socket = new CometSocket("/comet/", forced ? { transports: [forced] } : {});
socket.addEventListener("open", () => note("socket open: a comet session exists"));
socket.addEventListener("close", (event) => note(`socket closed: ${event.code} ${event.reason}`));
// [/socket]

// [stomp]
const stomp = new StompClient(socket);
const connected = await stomp.connect({ heartbeat: [10000, 10000] });
note(`STOMP ${connected.headers.version} connected`);
document.getElementById("transport").textContent = socket.transport;
const subscription = stomp.subscribe(TOPIC, (message) => note(`${TOPIC}: ${message.body}`),
                                     { receipt: true });
await subscription.receipt; // from here on, every message sent to the topic reaches us
note(`subscribed to ${TOPIC}`);
window.ready = true; // for the test that runs this page
// [/stomp]

// [send]
document.getElementById("say").addEventListener("submit", async (event) => {
  event.preventDefault(); // the message goes over the socket: no page load
  const input = document.getElementById("text");
  const text = input.value;
  input.value = "";
  await stomp.send(TOPIC, text, { receipt: true });
  note(`the server has "${text}"`);
});
// [/send]
