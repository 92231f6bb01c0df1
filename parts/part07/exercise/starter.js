// Part 7 exercise: show a chat line as text.
//
// `line(message)` turns a message from the room ({nick, text, at}, parsed from JSON that
// anybody may have written) into the <li> the chat appends to its log:
//
//   <li class="message"><span class="nick">ann</span><span class="text">hello</span></li>
//
// The version below is how chats of the Orbited era did it, and it is an injection hole:
// the message `<img src=x onerror=alert(1)>` becomes an image whose error handler runs in
// every reader's page. Rewrite the gap marked YOUR CODE HERE so that the nick and the text
// always show as the characters they are, whatever they hold (nick and text may even be
// numbers or null: show them as String() would). Check your work with
//   python -m comet_core check 7 --file parts/part07/exercise/starter.js
// which sends hostile messages through a real server and renders them in Chromium.

// start-line
export function line(message) {
  const item = document.createElement("li");
  item.className = "message";
  // YOUR CODE HERE: build the two spans without ever parsing the message as HTML.
  item.innerHTML = `<span class="nick">${message.nick}</span>` +
    `<span class="text">${message.text}</span>`;
  return item;
}
// end-line
