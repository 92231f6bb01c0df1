// Part 7 exercise, one solution: a chat line shown as text (see starter.js for the task).
// Check it with
//   python -m comet_core check 7 --file parts/part07/exercise/solution.js

// start-line
export function line(message) {
  const item = document.createElement("li");
  item.className = "message";
  const nick = document.createElement("span");
  nick.className = "nick";
  nick.textContent = String(message.nick); // textContent is never parsed: it is just text
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = String(message.text);
  item.append(nick, text);
  return item;
}
// end-line
