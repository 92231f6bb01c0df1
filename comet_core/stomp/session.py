"""The server side of one STOMP connection, as a sans-IO state machine.

A `ServerSession` is fed the bytes a client sent (`receive_data`) and the passing of time
(`tick`), and hands back the bytes to send (`data_to_send`). It never touches a socket or
a reactor, so the same object serves a TCP connection (`comet_core.transports.tcp`), any
HTTP transport, a test with a fake clock, or a notebook. Messages reach it from other
sessions through the `comet_core.hub.Hub`; since those arrive outside the adapter's own
calls, the session calls its `on_wakeup` callback to say "I have something for you".

The states and what moves between them are the table `TRANSITIONS` (upper-case keys are
frames from the client, lower-case ones events), which the session itself consults:

- ``awaiting CONNECT``: only CONNECT or STOMP is accepted.
- ``logging in``: the version is agreed and the login waits for a verdict from the adapter
  (`login_request`, then `accept_login` or `refuse_login`). Frames that arrive meanwhile
  are held, up to ``max_held_bytes``.
- ``connected``: everything else. DISCONNECT, an error or a lost connection close it.
- ``closed``: nothing more is read; what is in the outbound buffer is the last to send.

Choices where the specification leaves them to the server:

- Versions: 1.0, 1.1 and 1.2; the highest one in the client's ``accept-version`` wins, a
  CONNECT without it is 1.0. The ``host`` header is accepted whatever it says (and when
  absent): this broker has a single virtual host.
- A 1.0 session may use NACK and ``ack:client-individual`` too; 1.0 clients that do not
  know them never send them. A 1.0 SUBSCRIBE without ``id`` uses its destination as id.
- ``ack:client`` is cumulative for ACK and NACK alike: the frame settles the message it
  names and every earlier unsettled one on that subscription.
- ACK or NACK of a message that is not awaiting one is an ERROR, as is an unknown
  subscription or transaction id, a duplicate subscription id, or BEGIN of a transaction
  that is already open.
- Receipts: every frame but CONNECT may carry ``receipt``; the RECEIPT follows once the
  frame has been handled (for SEND and ACK inside a transaction: once it is recorded).
  CONNECT's ``receipt`` is ignored: CONNECTED is its answer.
- MESSAGE frames carry ``destination``, ``message-id``, ``subscription``, the sender's own
  headers (including ``content-type``; not ``receipt``, ``transaction`` or headers the
  server owns), ``content-length`` for a non-empty body, ``ack`` in 1.2 when the ack mode
  is not auto, and ``redelivered:true`` when a queue delivers a message again.
- Unacknowledged window (prefetch): a subscription in ``client`` or ``client-individual``
  mode has at most ``prefetch`` messages awaiting ACK (a ``prefetch-count`` header, as
  RabbitMQ spells it, may choose 1 to ``max_prefetch``). A queue sends it no more until it
  acknowledges; a topic keeps delivering, and a topic subscription past ``max_unacked``
  is a slow consumer.
- Outbound bound (the slow-consumer policy): queue deliveries to a session whose unsent
  output exceeds ``outbound_soft`` pause; the messages stay in the queue for it or for
  another subscriber. A topic delivery that leaves a session over ``outbound_soft`` (or a
  topic subscription with a full ack window) puts the session *behind*: the publisher
  waits (flow control, see `comet_core.hub`) until that backlog has halved, so a burst
  goes at the pace of a subscriber that keeps reading. But a session may stay behind for
  at most ``slow_consumer_timeout`` seconds (1 s): one that has not caught up by then is
  ended with ERROR "slow consumer", so no subscriber holds up a topic, its publishers and
  its other subscribers for longer. A publisher waits for topic subscribers for that long
  at most, and then not again for ten times as long, so that subscribers falling behind
  one after another cannot stall it either. (A publisher waits at most ``flow_timeout``
  seconds at any gate, a queue's too.) A session whose unsent output passes
  ``outbound_hard`` (a client that never reads its receipts, say) is ended in the same
  way at once. Its unsent messages are dropped (topic delivery is at most once) and its
  unacknowledged queue messages go to other subscribers.
- Heart-beats: the server offers ``heart_beat`` (its sx,sy), so the negotiated intervals
  are never shorter than those; beats are an EOL sent when nothing else was sent for the
  interval. A client whose bytes stop for ``heart_beat_grace`` times its interval gets an
  ERROR "heart-beat timeout" and is closed. Not in 1.0, which has no heart-beats.
- A client that sends no complete CONNECT within ``connect_timeout`` seconds is closed.
- Memory budget: given one (`comet_core.budget`, usually the hub's), the session charges
  it with its unfinished frame, held input and unsent output. A read that leaves more
  unfinished input while the server's budget is exhausted ends the session with ERROR
  "server busy"; a SEND while unsent output is part of the excess pauses reading (a
  publisher's wait, without heart-beat timeout) until the budget frees.
- A header holding a NUL is refused by the codec (ERROR "NUL in header ..."): no version
  can carry one, and forwarding it would let the sender forge frames for subscribers.
- Transactions hold their SEND, ACK and NACK frames (bounded by ``max_transactions`` and
  ``max_transaction_bytes``) and run them in order at COMMIT; ABORT, and the end of the
  connection, drop them. A SEND refused during COMMIT (queue full) ends the session with
  an ERROR; the frames before it have taken effect.
- An ERROR frame has a ``message`` header, ``content-type:text/plain`` and an explanatory
  body, ``receipt-id`` when the offending frame asked for a receipt; then the session is
  closed.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from comet_core import __version__
from comet_core.flow import Gate
from comet_core.stomp.errors import StompError
from comet_core.stomp.frames import (
    MAX_FRAME_SIZE,
    MAX_HEADER_LENGTH,
    MAX_HEADERS,
    Frame,
    FrameParser,
    encode_frame,
)
from comet_core.stomp.negotiation import (
    SUPPORTED_VERSIONS,
    heart_beat_intervals,
    negotiate_version,
    parse_heart_beat,
)
from comet_core.stomp.transactions import Transactions

if TYPE_CHECKING:  # the hub imports this package: no import of it at run time
    from comet_core.budget import MemoryBudget
    from comet_core.hub import Hub, Message, Queue, Topic


class State(enum.Enum):
    """The four states of a session; `TRANSITIONS` says what moves between them."""

    AWAITING_CONNECT = "awaiting CONNECT"
    LOGGING_IN = "logging in"
    CONNECTED = "connected"
    CLOSED = "closed"


_CONNECTED = State.CONNECTED


#: The frames a connected client sends, each leaving the session connected.
CLIENT_FRAMES = ("SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT")

#: state -> {frame or event -> next state}; the session consults it for every frame and
#: event, so a diagram drawn from it (as the docs do) is the session's real behaviour.
#: Upper-case keys are client frames; lower-case keys are events: "login accepted" /
#: "login refused" (the adapter's verdict on CONNECT's credentials), "error" (the server
#: sent an ERROR: a bad frame, a heart-beat timeout, a slow consumer, a shutdown; it then
#: closes the connection) and "connection lost". A frame not in its state's row is
#: answered with an ERROR.
TRANSITIONS: dict[State, dict[str, State]] = {
    State.AWAITING_CONNECT: {
        "CONNECT": State.LOGGING_IN,
        "STOMP": State.LOGGING_IN,
        "error": State.CLOSED,
        "connection lost": State.CLOSED,
    },
    State.LOGGING_IN: {
        "login accepted": State.CONNECTED,
        "login refused": State.CLOSED,
        "error": State.CLOSED,
        "connection lost": State.CLOSED,
    },
    State.CONNECTED: {
        **{command: State.CONNECTED for command in CLIENT_FRAMES},
        "DISCONNECT": State.CLOSED,
        "error": State.CLOSED,
        "connection lost": State.CLOSED,
    },
    State.CLOSED: {},
}

#: Every frame a client may send in some state.
KNOWN_COMMANDS = frozenset({"CONNECT", "STOMP", "DISCONNECT", *CLIENT_FRAMES})

_ACK_MODES = ("auto", "client", "client-individual")
#: SEND headers the server owns or consumes: never copied into the MESSAGE.
_SERVER_HEADERS = frozenset({"destination", "message-id", "subscription", "ack", "receipt",
                             "transaction", "content-length", "redelivered"})


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Every bound and timer of a session; the defaults suit a small public broker."""

    # The codec's bounds for one frame (see `FrameParser`): a 1 MiB body and 64 KiB of
    # command and headers; up to 1000 headers of up to 8 KiB each.
    max_frame_size: int = MAX_FRAME_SIZE
    max_headers: int = MAX_HEADERS
    max_header_length: int = MAX_HEADER_LENGTH
    #: Bytes received while frames cannot be handled yet (login check, flow control):
    #: room for one frame of the largest size, and a little more.
    max_held_bytes: int = MAX_FRAME_SIZE + (64 << 10)
    #: Unsent output past which queue deliveries pause and topic publishers wait.
    outbound_soft: int = 512 << 10
    #: Unsent output past which the session ends with ERROR "slow consumer".
    outbound_hard: int = 4 << 20
    prefetch: int = 100
    max_prefetch: int = 1000
    #: Unacknowledged messages on one topic subscription before it is a slow consumer.
    max_unacked: int = 10_000
    max_subscriptions: int = 1000
    max_transactions: int = 64
    #: Bytes of SEND/ACK/NACK frames held by all open transactions of a session.
    max_transaction_bytes: int = 8 << 20
    #: (sx, sy) of CONNECTED, in ms: the shortest intervals the server agrees to.
    heart_beat: tuple[int, int] = (1000, 1000)
    heart_beat_grace: float = 2.0
    #: Seconds from connecting to a complete CONNECT (and its login verdict).
    connect_timeout: float = 10.0
    #: Longest a publisher waits for a queue (or a topic subscriber) to catch up.
    flow_timeout: float = 10.0
    #: Longest a topic subscriber may stay behind (output over ``outbound_soft``, or its
    #: ack window full), holding its publishers; then it ends with ERROR "slow consumer".
    slow_consumer_timeout: float = 1.0


@dataclass(frozen=True, slots=True)
class LoginRequest:
    """What a CONNECT frame offered; the adapter checks it and answers the session."""

    login: str | None
    passcode: str | None
    host: str | None


_DEFAULT_LIMITS = SessionLimits()  # frozen: one shared by every session given none
_FOREVER = float("inf")
#: A publisher waits for topic subscribers for one ``slow_consumer_timeout`` at most, and
#: then not again until this many of them have passed: subscribers that fall behind one
#: after another take at most a tenth of a publisher's time.
TOPIC_WAIT_SPACING = 10
_NO_GATES: frozenset[Gate] = frozenset()


class FrameRejected(StompError):
    """A frame the session refuses; it becomes an ERROR frame (with `headers` added)."""

    def __init__(self, message: str, detail: str = "",
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message, detail)
        self.headers = headers or []


class Subscription:
    """One SUBSCRIBE of one session: the hub's consumer, and the hot path of delivery.

    `prefix` is ``MESSAGE\\nsubscription:ID\\n`` encoded once for the session's version;
    a delivery writes it, the ``ack`` header when needed, then the message's shared bytes.
    `unacked` maps message-id -> message (None for a topic, which never redelivers) in
    delivery order, or is None in auto mode.
    """

    __slots__ = ("session", "id", "destination", "ack", "serial", "prefix", "ack_prefix",
                 "unacked", "window", "target", "gate")

    def __init__(self, session: ServerSession, sub_id: str, destination: str, ack: str,
                 serial: int, window: int) -> None:
        self.session = session
        self.id = sub_id
        self.destination = destination
        self.ack = ack
        self.serial = str(serial)
        frame = encode_frame("MESSAGE", [("subscription", sub_id)], b"", session.version)
        self.prefix = frame[:-2]  # drop the blank line's LF and the NUL
        self.ack_prefix = f"ack:{serial}.".encode()
        self.unacked: dict[str, Message | None] | None = None if ack == "auto" else {}
        self.window = window
        self.target: Topic | Queue | None = None
        self.gate = session.gate

    def deliver(self, message: Message) -> bool:
        """Topic delivery; True when this consumer is now congested."""
        session = self.session
        if session.state is not _CONNECTED:
            return False
        out = session._out
        unacked = self.unacked
        if not out and unacked is None and session.carry is not None \
                and session.carry(self.prefix + message.encoded(session.version)):
            if session._tx_interval:  # the frame left: it counts as sending
                session._last_tx = session._clock()
            return False
        pending = len(out)
        if pending > session._hard:
            session._slow_consumer(
                f"{pending} bytes of messages were waiting for this client to read them, "
                f"more than the bound of {session._hard}.")
            return False
        out += self.prefix
        if unacked is not None:
            if len(unacked) >= session.limits.max_unacked:
                del out[pending:]
                session._slow_consumer(
                    f"Subscription {self.id!r} has {len(unacked)} messages awaiting ACK, "
                    f"the bound is {session.limits.max_unacked}.")
                return False
            unacked[message.message_id] = None
            if session._v12:
                out += self.ack_prefix + message.message_id.encode() + b"\n"
        out += message.encoded(session.version)
        if not pending and session.on_wakeup is not None:
            session.on_wakeup()
        if len(out) > session._soft or (unacked is not None and len(unacked) >= self.window):
            if session._behind_since is None:
                session._fell_behind()
            return True
        return False

    def ready(self) -> bool:
        """May a queue hand this subscription a message now?"""
        session = self.session
        if session.state is not State.CONNECTED:
            return False
        if len(session._out) > session._soft:
            session._starved = True
            return False
        return self.unacked is None or len(self.unacked) < self.window

    def take(self, message: Message) -> None:
        """Queue delivery: like `deliver`, but the message is kept until acknowledged."""
        session = self.session
        out = session._out
        pending = len(out)
        out += self.prefix
        if self.unacked is not None:
            self.unacked[message.message_id] = message
            if session._v12:
                out += self.ack_prefix + message.message_id.encode() + b"\n"
        out += message.encoded(session.version)
        if not pending and session.on_wakeup is not None:
            session.on_wakeup()


class ServerSession:
    """The server side of one STOMP connection; see the module docstring for the rules.

    The adapter's side of the contract:

    - feed every received chunk to `receive_data`; send what `data_to_send` returns;
    - set `on_wakeup` to a callable: it is called when the session gained output, closed,
      or may read again, at a moment the adapter did not call it (a message from another
      session); the adapter then does what it does after `receive_data`;
    - while `login_request` is set, check it and call `accept_login` or `refuse_login`;
    - while `reading_paused` is true, stop reading from the peer (what arrives anyway is
      held, bounded); when it turns false, call `resume` and read again;
    - call `tick` at `next_deadline` (heart-beats, timeouts);
    - once `closed`, send what is left and close the connection; call `connection_lost`
      when the connection ends, whoever ended it.
    """

    # Slots, and containers made only when first needed (held input, transactions, flow
    # waits): a broker holds thousands of idle sessions, and an instance dict and a few
    # empty containers each would be most of an idle session's memory.
    __slots__ = ("hub", "limits", "session_id", "server_name", "state", "version", "user",
                 "login_request", "close_reason", "failure", "on_wakeup", "carry", "gate",
                 "_clock", "_defer_login", "_parser", "_out", "_soft", "_hard", "_v12", "_subs",
                 "_by_serial", "_serials", "_transactions", "_starved", "_pump_after",
                 "_gates", "_waiting_since", "_topic_wait_from", "_behind_since",
                 "_held_frames", "_held_bytes",
                 "_held_error",
                 "_connect_deadline", "_client_heart_beat", "_tx_interval", "_rx_timeout",
                 "_last_tx", "_last_rx", "_budget", "_charged_in", "_charged_out",
                 "_blocked")

    def __init__(self, hub: Hub, *, limits: SessionLimits | None = None,
                 clock: Callable[[], float] = time.monotonic, session_id: str | None = None,
                 server_name: str = f"comet_core/{__version__}",
                 defer_login: bool = False, budget: MemoryBudget | None = None) -> None:
        """`defer_login`: wait for the adapter's verdict on each login (the TCP adapter
        uses twisted.cred); when False every login is accepted at once. `budget`: the
        server's memory budget that the session charges its buffers to; the hub's
        ``budget`` when not given (None: no budget)."""
        self.hub = hub
        self.limits = limits = limits or _DEFAULT_LIMITS
        self.session_id = session_id or secrets.token_hex(8)
        self.server_name = server_name
        self.state = State.AWAITING_CONNECT
        self.version = "1.0"
        self.user: str | None = None
        self.login_request: LoginRequest | None = None
        self.close_reason: str | None = None
        #: An unexpected exception the session met (a bug); the adapter should log it.
        self.failure: BaseException | None = None
        self.on_wakeup: Callable[[], None] | None = None
        #: Optional: the adapter takes a MESSAGE frame of an auto-ack subscription straight
        #: to its client when nothing else of this session waits to be sent. Called with
        #: the frame's bytes; True means it took them (they are not buffered, and no
        #: wakeup follows). A fan-out then skips the buffer and the adapter's round.
        self.carry: Callable[[bytes], bool] | None = None
        self.gate = Gate(topic=True)  # held by topic deliveries only
        self._clock = clock
        self._defer_login = defer_login
        self._parser = FrameParser(max_frame_size=limits.max_frame_size,
                                   max_headers=limits.max_headers,
                                   max_header_length=limits.max_header_length)
        self._out = bytearray()
        self._soft = limits.outbound_soft
        self._hard = limits.outbound_hard
        self._v12 = False
        self._subs: dict[str, Subscription] = {}
        self._by_serial: dict[str, Subscription] = {}
        self._serials = 0
        self._transactions: Transactions | None = None  # made at the first BEGIN
        self._starved = False  # a queue skipped us for a full buffer: pump when drained
        self._pump_after: Queue | None = None
        # Flow control: the gates this session (as a publisher) waits at.
        self._gates: set[Gate] | frozenset[Gate] = _NO_GATES  # a set while waiting
        self._waiting_since = 0.0
        self._topic_wait_from = -_FOREVER  # when its last wait for topic subscribers began
        # When a topic delivery last found this session behind (None: it is not).
        self._behind_since: float | None = None
        # Input that cannot be handled yet.
        self._held_frames: list[Frame] | None = None
        self._held_bytes: bytearray | None = None
        self._held_error: StompError | None = None
        # Timers, in the clock's seconds.
        now = clock()
        self._connect_deadline = now + limits.connect_timeout
        self._client_heart_beat = (0, 0)
        self._tx_interval = 0.0  # server -> client beats
        self._rx_timeout = 0.0   # silence after which the client is dropped
        self._last_tx = now
        self._last_rx = now
        # The server's memory budget, what this session holds charged to it, and whether
        # it waits (as a publisher) for the budget to free up.
        self._budget = budget if budget is not None else getattr(hub, "budget", None)
        self._charged_in = self._charged_out = 0
        self._blocked = False

    # --- the adapter's interface -------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def reading_paused(self) -> bool:
        """True while the session cannot handle frames: login check, flow control, or a
        publisher blocked by the memory budget."""
        return self.state is State.LOGGING_IN or bool(self._gates) or self._blocked

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        return self._subs

    def receive_data(self, data: bytes) -> None:
        """Handle bytes from the client (any chunking)."""
        if self.state is State.CLOSED or not data:
            return
        if self._rx_timeout:
            self._last_rx = self._clock()
        budget = self._budget
        before = self._input_held() if budget is not None else 0
        if self.reading_paused or self._held_frames or self._held_bytes:
            self._hold(data)
            self.resume()
        else:
            self._feed(data)
        if budget is not None:
            self._check_budget(before)

    def resume(self) -> None:
        """Handle what was held while reading was paused, if it no longer is."""
        budget = self._budget
        if budget is not None:  # the adapters call this every round: charge new output
            out = len(self._out)
            if out > self._charged_out:
                budget.output += out - self._charged_out
                self._charged_out = out
        if not (self._held_frames or self._held_bytes or self._held_error is not None):
            return  # nothing held (the usual case)
        while not self.reading_paused and self.state is not State.CLOSED:
            if self._held_frames:
                frames, self._held_frames = self._held_frames, None
                self._run(frames)
            elif self._held_error is not None:
                error, self._held_error = self._held_error, None
                self._error(error.message, error.detail)
            elif self._held_bytes:
                data = bytes(self._held_bytes)
                self._held_bytes = None
                self._feed(data)
            else:
                break
        if budget is not None:
            self._account()  # what was held moved to the parser or was handled

    def data_to_send(self) -> bytes:
        """All output produced so far (empty when there is none); the buffer is emptied."""
        out = self._out
        if not out:
            return b""
        data = bytes(out)
        out.clear()
        charged = self._charged_out
        if charged:  # the output left: give its share back
            self._charged_out = 0
            self._budget.sent(charged)  # type: ignore[union-attr]
        if self._tx_interval:
            self._last_tx = self._clock()
        if self.gate.armed or self._behind_since is not None:
            self._maybe_open_gate()
        if self._starved:
            self._starved = False
            for sub in list(self._subs.values()):
                if sub.target is not None and sub.target.kind == "queue":
                    sub.target.pump()
        return data

    @property
    def pending_output(self) -> int:
        """Bytes produced and not yet taken by `data_to_send`."""
        return len(self._out)

    def next_deadline(self) -> float | None:
        """When `tick` must next be called (clock seconds), or None for never."""
        state = self.state
        if state is State.CLOSED:
            return None
        if state is not State.CONNECTED:
            return self._connect_deadline
        deadline = None
        if self._tx_interval:
            deadline = self._last_tx + self._tx_interval
        if self._rx_timeout and not (self._gates or self._blocked):
            rx = self._last_rx + self._rx_timeout
            deadline = rx if deadline is None else min(deadline, rx)
        if self._gates:
            flow = self._waiting_since + self.limits.flow_timeout
            if any(gate.topic for gate in self._gates):
                flow = min(flow, self._topic_wait_from + self.limits.slow_consumer_timeout)
            deadline = flow if deadline is None else min(deadline, flow)
        if self._behind_since is not None:
            behind = self._behind_since + self.limits.slow_consumer_timeout
            deadline = behind if deadline is None else min(deadline, behind)
        return deadline

    def tick(self, now: float | None = None) -> None:
        """Let time pass: send a heart-beat, drop a silent client, end a flow-control wait."""
        if now is None:
            now = self._clock()
        state = self.state
        if state is State.CLOSED:
            return
        if state is not State.CONNECTED:
            if now >= self._connect_deadline:
                what = ("the login check did not finish" if state is State.LOGGING_IN
                        else "no CONNECT frame arrived")
                self._error("connect timeout", (
                    f"{what.capitalize()} within {self.limits.connect_timeout:g} seconds of "
                    "connecting; send CONNECT (or STOMP) as the first frame."))
            return
        if self._gates and now >= self._waiting_since + self.limits.flow_timeout:
            self._stop_waiting(now)
        if self._gates and now >= self._topic_wait_from + self.limits.slow_consumer_timeout:
            self._stop_waiting_for_topics()
        if (self._behind_since is not None
                and now >= self._behind_since + self.limits.slow_consumer_timeout):
            self._maybe_open_gate()
            if self._behind_since is not None:
                self._cut_behind()
                return
        if self._rx_timeout and not (self._gates or self._blocked) \
                and now - self._last_rx >= self._rx_timeout:
            cx = self._client_heart_beat[0]
            self._error("heart-beat timeout", (
                f"Nothing arrived from the client for {now - self._last_rx:.1f} seconds, "
                f"although heart-beats were agreed every {max(cx, self.limits.heart_beat[1])}"
                " ms; the connection is considered dead."))
            return
        if self._tx_interval and now - self._last_tx >= self._tx_interval:
            if not self._out:
                self._emit(b"\n")
            self._last_tx = now

    def accept_login(self, user: str | None = None) -> None:
        """The adapter accepts the pending login (as `user`): CONNECTED goes out."""
        if self.state is not State.LOGGING_IN:
            raise RuntimeError(f"no login is pending (state: {self.state.value})")
        self.user = user
        self.login_request = None
        self._go("login accepted")
        headers = [("version", self.version), ("server", self.server_name),
                   ("session", self.session_id)]
        now = self._clock()
        self._last_tx = self._last_rx = now
        if self.version != "1.0":
            sx, sy = self.limits.heart_beat
            headers.append(("heart-beat", f"{sx},{sy}"))
            to_client, to_server = heart_beat_intervals(self._client_heart_beat, (sx, sy))
            self._tx_interval = to_client / 1000
            self._rx_timeout = to_server / 1000 * self.limits.heart_beat_grace
        if self.user is not None:
            headers.append(("user-name", self.user))
        self._emit(encode_frame("CONNECTED", headers, b"", self.version))
        self.resume()

    def refuse_login(self, reason: str = "login refused",
                     detail: str = "The login and passcode were not accepted.") -> None:
        """The adapter refuses the pending login: ERROR, then closed."""
        if self.state is not State.LOGGING_IN:
            raise RuntimeError(f"no login is pending (state: {self.state.value})")
        self.login_request = None
        self._error(reason, detail, event="login refused")

    def shutdown(self, reason: str = "server shutting down") -> None:
        """End the session from the server's side with an ERROR (e.g. at broker shutdown)."""
        if self.state is not State.CLOSED:
            self._error(reason, "The broker is stopping; reconnect later.")

    def connection_lost(self, reason: str = "connection lost") -> None:
        """The connection ended: implicit ABORT, unacknowledged queue messages redelivered."""
        if self.state is not State.CLOSED:
            self._close(reason, "connection lost")
        self._out.clear()
        if self._budget is not None:
            self._account()
        self.on_wakeup = self.carry = None

    # --- flow control (the hub's Publisher interface) ------------------------------------

    def wait_at(self, gate: Gate) -> None:
        if self.state is not State.CONNECTED or (gate.topic and not self._may_wait_for_topic()):
            gate.leave(self)
            return
        if not self._gates:
            self._waiting_since = self._clock()
            self._gates = set()
        self._gates.add(gate)  # type: ignore[union-attr]

    def gate_opened(self, gate: Gate) -> None:
        if gate in self._gates:
            self._gates.discard(gate)  # type: ignore[union-attr]
        if not self._gates and self.state is State.CONNECTED:
            self._last_rx = self._clock()
            self._wake()

    def _may_wait_for_topic(self) -> bool:
        """Within the current wait for topic subscribers, or past `TOPIC_WAIT_SPACING` of
        them since it began (a new one begins); otherwise the publisher goes on."""
        now = self._clock()
        timeout = self.limits.slow_consumer_timeout
        start = self._topic_wait_from
        if now < start + timeout:
            return True
        if now >= start + TOPIC_WAIT_SPACING * timeout:
            self._topic_wait_from = now
            return True
        return False

    def _stop_waiting_for_topics(self) -> None:
        """Its wait for topic subscribers is over: those still behind are cut by their own
        timers; until then nobody waits for them (their gates expire)."""
        for gate in [g for g in self._gates if g.topic]:
            gate.expire()

    def _stop_waiting(self, now: float) -> None:
        """The flow timeout passed: stop waiting, and let nobody wait at these gates again
        until they open (the hard bounds take over)."""
        gates = list(self._gates)
        self._gates = _NO_GATES
        for gate in gates:
            gate.expire()
        self._last_rx = now

    def _maybe_open_gate(self) -> None:
        """Open the gate once caught up: output down to half the soft bound, and no
        topic subscription with a full ack window. That also ends being behind."""
        if len(self._out) > self._soft // 2 or self._full_topic_window() is not None:
            return
        self._behind_since = None
        self.gate.open()

    def _full_topic_window(self) -> Subscription | None:
        for sub in self._subs.values():
            if (sub.unacked is not None and sub.target is not None and sub.target.kind == "topic"
                    and len(sub.unacked) >= sub.window):
                return sub
        return None

    def _fell_behind(self) -> None:
        """A topic delivery found this session congested: from now on it has
        ``slow_consumer_timeout`` seconds to catch up (the wakeup lets the adapter move
        its timer to that deadline)."""
        self._behind_since = self._clock()
        self._wake()

    def _cut_behind(self) -> None:
        """A topic subscriber stayed behind too long: end it rather than hold its
        publishers, and every other subscriber of their topics, any longer."""
        timeout = self.limits.slow_consumer_timeout
        sub = self._full_topic_window()
        if len(self._out) <= self._soft // 2 and sub is not None:
            self._slow_consumer(
                f"Subscription {sub.id!r} has had {len(sub.unacked or ())} messages awaiting "
                f"ACK, its window, for {timeout:g} seconds; a topic subscriber may hold up "
                f"its publishers for at most {timeout:g} seconds.")
            return
        self._slow_consumer(
            f"{len(self._out)} bytes of messages waited for this client to read them, over "
            f"the bound of {self._soft}, for {timeout:g} seconds; a topic subscriber may "
            f"hold up its publishers for at most {timeout:g} seconds.")

    # --- the memory budget (`comet_core.budget`) ------------------------------------------

    def budget_freed(self) -> None:
        """The budget is back under its resume level: read from this publisher again."""
        self._blocked = False
        if self.state is State.CONNECTED:
            self._last_rx = self._clock()  # its bytes were not read meanwhile
            self._wake()

    def _input_held(self) -> int:
        held = self._held_bytes
        return self._parser.buffered + (len(held) if held else 0)

    def _account(self) -> None:
        """Charge the budget with what this session holds now (input and unsent output)."""
        held, out = self._input_held(), len(self._out)
        if held != self._charged_in or out != self._charged_out:
            delta_in, delta_out = held - self._charged_in, out - self._charged_out
            self._charged_in, self._charged_out = held, out
            self._budget.charge(delta_in, delta_out)  # type: ignore[union-attr]

    def _check_budget(self, before: int) -> None:
        """After a read: refuse input that grew while the budget is exhausted (but not
        from a publisher the budget blocked: its adapter has stopped reading, and what
        was on its way is held, within ``max_held_bytes``)."""
        self._account()
        budget = self._budget
        assert budget is not None
        if budget.exhausted and not self._blocked and self.state is not State.CLOSED \
                and self._input_held() > before:
            self._error("server busy", (
                "The server already holds as much unfinished and unsent data as its memory "
                f"budget allows ({budget.limit} bytes), so this connection's unfinished "
                "frame cannot be kept. Send it again in a moment."))

    # --- input -------------------------------------------------------------------------

    def _hold(self, data: bytes) -> None:
        held = self._held_bytes
        if held is None:
            held = self._held_bytes = bytearray()
        if len(held) + len(data) > self.limits.max_held_bytes:
            self._error("too much data ahead", (
                f"More than {self.limits.max_held_bytes} bytes arrived while earlier frames "
                "were still waiting to be handled."))
            return
        held += data

    def _feed(self, data: bytes) -> None:
        try:
            frames = self._parser.feed(data)
            error = None
        except StompError as exc:
            frames, error = exc.frames, exc
        if not self._run(frames) or self.reading_paused:
            # Behind a CONNECT whose login is being checked, a bad frame's ERROR waits for
            # the verdict, so that the client sees CONNECTED (or a refusal) first.
            if error is not None and self.state is not State.CLOSED:
                self._held_error = error
            return
        if error is not None:
            self._error(error.message, error.detail)

    def _run(self, frames: list[Frame]) -> bool:
        """Handle frames in order; hold the rest if reading pauses. True if all were run."""
        for index, frame in enumerate(frames):
            if self.state is State.CLOSED:
                return False
            if self.reading_paused:
                if self._held_frames is None:
                    self._held_frames = []
                self._held_frames.extend(frames[index:])
                return False
            self._handle(frame)
        return self.state is not State.CLOSED

    def _handle(self, frame: Frame) -> None:
        command = frame.command
        state = self.state
        following = TRANSITIONS[state].get(command)
        try:
            if following is None:
                self._refuse_out_of_place(frame)
            _HANDLERS[command](self, frame)
            if self.state is State.CLOSED:
                return
            receipt = frame.get("receipt")
            if receipt is not None and command not in ("CONNECT", "STOMP"):
                self._emit(encode_frame("RECEIPT", [("receipt-id", receipt)], b"",
                                        self.version))
                if self.state is State.CLOSED:  # that receipt made it a slow consumer
                    return
            if following is State.CLOSED:
                self._close("the client sent DISCONNECT", command)
            elif self._pump_after is not None:
                queue, self._pump_after = self._pump_after, None
                queue.pump()
        except StompError as exc:  # FrameRejected, DestinationError
            self._pump_after = None
            self._error(exc.message, exc.detail, frame, extra=getattr(exc, "headers", None))
        except Exception as exc:  # a bug: say so plainly, never a traceback to the client
            self._pump_after = None
            self.failure = exc
            self._error("internal error", (
                f"The broker failed while handling this {command} frame; its log has the "
                "details."), frame)

    def _refuse_out_of_place(self, frame: Frame) -> None:
        command = frame.command
        if command not in KNOWN_COMMANDS:
            raise FrameRejected("unknown command", (
                f"{command} is not a STOMP client frame. Known: "
                + ", ".join(sorted(KNOWN_COMMANDS)) + "."))
        if self.state is State.AWAITING_CONNECT:
            raise FrameRejected("not connected", (
                f"The first frame must be CONNECT (or STOMP), not {command}."))
        raise FrameRejected("already connected",
                            f"{command} is only valid as the first frame of a connection.")

    # --- frames --------------------------------------------------------------------------

    def _on_connect(self, frame: Frame) -> None:
        version = negotiate_version(frame.get("accept-version"))
        if version is None:
            supported = ",".join(SUPPORTED_VERSIONS)
            raise FrameRejected("unsupported protocol version", (
                f"Supported protocol versions are {' '.join(SUPPORTED_VERSIONS)}; the client "
                f"offered {frame.get('accept-version')!r}."), [("version", supported)])
        heart_beat = frame.get("heart-beat")
        try:
            self._client_heart_beat = parse_heart_beat(heart_beat) if version != "1.0" else (0, 0)
        except ValueError as exc:
            raise FrameRejected("bad heart-beat header", f"heart-beat:{heart_beat}: {exc}.") \
                from None
        self.version = version
        self._v12 = version == "1.2"
        self._parser.version = version
        self.login_request = LoginRequest(frame.get("login"), frame.get("passcode"),
                                          frame.get("host"))
        self._go(frame.command)
        if not self._defer_login:
            request = self.login_request
            self.accept_login(request.login if request else None)

    def _on_send(self, frame: Frame) -> None:
        destination = self._require(frame, "destination")
        transaction = frame.get("transaction")
        if transaction is not None:
            self._record(transaction, frame)
            return
        self._publish(frame, destination)

    def _publish(self, frame: Frame, destination: str) -> None:
        headers = [h for h in frame.headers if h[0] not in _SERVER_HEADERS]
        self.hub.publish(destination, headers, frame.body, self)
        budget = self._budget
        if budget is not None and budget.publishers_wait and not self._blocked \
                and self.state is State.CONNECTED:
            self._blocked = True  # read no more from this publisher until the budget frees
            budget.block(self)

    def _on_subscribe(self, frame: Frame) -> None:
        destination = self._require(frame, "destination")
        sub_id = frame.get("id")
        if sub_id is None:
            if self.version != "1.0":
                raise FrameRejected("missing header 'id'",
                                    f"SUBSCRIBE needs an id header in STOMP {self.version}.")
            sub_id = destination
        if sub_id in self._subs:
            raise FrameRejected("duplicate subscription id", (
                f"This connection already has a subscription with id {sub_id!r}; "
                "UNSUBSCRIBE it first or choose another id."))
        if len(self._subs) >= self.limits.max_subscriptions:
            raise FrameRejected("too many subscriptions", (
                f"A connection may hold at most {self.limits.max_subscriptions} "
                "subscriptions."))
        ack = frame.get("ack", "auto") or "auto"
        if ack not in _ACK_MODES:
            raise FrameRejected("bad ack mode",
                                f"ack:{ack} is not one of {', '.join(_ACK_MODES)}.")
        window = self.limits.prefetch
        prefetch = frame.get("prefetch-count")
        if prefetch is not None:
            if not (prefetch.isascii() and prefetch.isdigit() and int(prefetch) > 0):
                raise FrameRejected("bad prefetch-count",
                                    f"prefetch-count:{prefetch} is not a positive number.")
            window = min(int(prefetch), self.limits.max_prefetch)
        self._serials += 1
        sub = Subscription(self, sub_id, destination, ack, self._serials, window)
        sub.target = target = self.hub.subscribe(sub)
        self._subs[sub_id] = sub
        self._by_serial[sub.serial] = sub
        if target.kind == "queue":
            self._pump_after = target  # type: ignore[assignment]  # after the RECEIPT, so it comes first

    def _on_unsubscribe(self, frame: Frame) -> None:
        sub_id = frame.get("id")
        if sub_id is None:
            if self.version != "1.0" or frame.get("destination") is None:
                raise FrameRejected("missing header 'id'", (
                    "UNSUBSCRIBE needs the id of the subscription"
                    + (" (or, in STOMP 1.0, its destination)." if self.version == "1.0"
                       else ".")))
            destination = frame.get("destination")
            sub = self._subs.get(destination) or next(
                (s for s in self._subs.values() if s.destination == destination), None)
        else:
            sub = self._subs.get(sub_id)
        if sub is None:
            raise FrameRejected("unknown subscription",
                                f"There is no subscription {sub_id or destination!r} to end.")
        self._drop_subscription(sub)
        self._maybe_open_gate_if_waited()

    def _drop_subscription(self, sub: Subscription) -> None:
        del self._subs[sub.id]
        del self._by_serial[sub.serial]
        if sub.target is not None:
            self.hub.unsubscribe(sub, sub.target)

    def _on_ack(self, frame: Frame) -> None:
        self._acknowledge(frame, nack=False)

    def _on_nack(self, frame: Frame) -> None:
        self._acknowledge(frame, nack=True)

    def _acknowledge(self, frame: Frame, *, nack: bool) -> None:
        sub, message_id = self._resolve_ack(frame)
        transaction = frame.get("transaction")
        if transaction is not None:
            self._record(transaction, frame)
            return
        self._settle(sub, message_id, nack)

    def _resolve_ack(self, frame: Frame) -> tuple[Subscription, str]:
        """The subscription and message-id an ACK/NACK names, per the session's version."""
        what = frame.command
        if self._v12 and (frame.get("id") is not None or frame.get("message-id") is None):
            ack_id = self._require(frame, "id")
            serial, _, message_id = ack_id.partition(".")
            sub = self._by_serial.get(serial)
            if sub is None or not sub.unacked or message_id not in sub.unacked:
                raise FrameRejected("unknown ack id", (
                    f"No message awaits {what} with ack id {ack_id!r} (take it from the "
                    "MESSAGE's ack header; each message is settled once)."))
            return sub, message_id
        message_id = self._require(frame, "message-id")
        sub_id = frame.get("subscription")
        if sub_id is None and self.version == "1.0":
            for sub in self._subs.values():
                if sub.unacked and message_id in sub.unacked:
                    return sub, message_id
            raise FrameRejected("unknown message-id",
                                f"No message with message-id {message_id!r} awaits {what}.")
        if sub_id is None:
            sub_id = self._require(frame, "subscription")
        sub = self._subs.get(sub_id)
        if sub is None:
            raise FrameRejected("unknown subscription",
                                f"{what} names subscription {sub_id!r}, which does not exist.")
        if not sub.unacked or message_id not in sub.unacked:
            mode = "" if sub.unacked is not None else " (it uses ack:auto)"
            raise FrameRejected("unknown message-id", (
                f"No message with message-id {message_id!r} awaits {what} on subscription "
                f"{sub_id!r}{mode}."))
        return sub, message_id

    def _settle(self, sub: Subscription, message_id: str, nack: bool) -> None:
        unacked = sub.unacked
        assert unacked is not None
        if sub.ack == "client":  # cumulative: this one and every earlier one
            keys = []
            for key in unacked:
                keys.append(key)
                if key == message_id:
                    break
            settled = [unacked.pop(key) for key in keys]
        else:
            settled = [unacked.pop(message_id)]
        target = sub.target
        if target is not None and target.kind == "queue":
            if nack:
                target.requeue(m for m in settled if m is not None)
            target.pump()
        self._maybe_open_gate_if_waited()

    def _maybe_open_gate_if_waited(self) -> None:
        if self.gate.armed or self._behind_since is not None:
            self._maybe_open_gate()

    def _on_begin(self, frame: Frame) -> None:
        self._txs().begin(self._require(frame, "transaction"))

    def _on_commit(self, frame: Frame) -> None:
        frames = self._txs().end(self._require(frame, "transaction"), "COMMIT")
        for held in frames:
            if held.command == "SEND":
                self._publish(held, held.get("destination") or "")
            else:
                sub, message_id = self._resolve_ack(held)
                self._settle(sub, message_id, held.command == "NACK")
            if self.state is State.CLOSED:
                return

    def _on_abort(self, frame: Frame) -> None:
        self._txs().end(self._require(frame, "transaction"), "ABORT")

    def _record(self, transaction: str, frame: Frame) -> None:
        self._txs().record(transaction, frame)

    def _txs(self) -> Transactions:
        txs = self._transactions
        if txs is None:
            limits = self.limits
            txs = self._transactions = Transactions(limits.max_transactions,
                                                    limits.max_transaction_bytes)
        return txs

    def _on_disconnect(self, frame: Frame) -> None:
        """Nothing to do before the receipt: frames are handled in order, so all before
        DISCONNECT already were; `_handle` sends the RECEIPT and then closes."""

    @staticmethod
    def _require(frame: Frame, name: str) -> str:
        value = frame.get(name)
        if value is None:
            raise FrameRejected(f"missing header {name!r}",
                                f"A {frame.command} frame needs a {name} header.")
        return value

    # --- output and closing --------------------------------------------------------------

    def _emit(self, data: bytes, check: bool = True) -> None:
        out = self._out
        pending = len(out)
        out += data
        if not pending:
            self._wake()
        if check and len(out) > self._hard and self.state is not State.CLOSED:
            self._slow_consumer(f"{len(out)} bytes were waiting for this client to read them, "
                                f"more than the bound of {self._hard}.")

    def _wake(self) -> None:
        if self.on_wakeup is not None:
            self.on_wakeup()

    def _slow_consumer(self, detail: str) -> None:
        self._out.clear()  # starts at a frame boundary: data_to_send always takes it all
        self._error("slow consumer", detail + (
            " Unsent messages were dropped; read faster, or acknowledge sooner."))

    def _error(self, message: str, detail: str, frame: Frame | None = None, *,
               event: str = "error", extra: list[tuple[str, str]] | None = None) -> None:
        if self.state is State.CLOSED:
            return
        headers = [("message", _one_line(message))]
        receipt = frame.get("receipt") if frame is not None else None
        if receipt is not None:
            headers.append(("receipt-id", receipt))
        headers += extra or ()
        headers.append(("content-type", "text/plain"))
        try:
            data = encode_frame("ERROR", headers, detail.encode(), self.version)
        except ValueError:  # a receipt-id this version cannot carry: leave it out
            data = encode_frame("ERROR", [headers[0], headers[-1]], detail.encode(),
                                self.version)
        self._emit(data, check=False)
        self._close(f"ERROR {message}", event)

    def _go(self, event: str) -> None:
        following = TRANSITIONS[self.state].get(event)
        if following is None:
            raise RuntimeError(f"{event!r} is not possible in state {self.state.value}")
        self.state = following

    def _close(self, reason: str, event: str) -> None:
        self._go(event)
        self.close_reason = reason
        self.login_request = None
        subs = list(self._subs.values())
        self._subs.clear()
        self._by_serial.clear()
        for sub in subs:  # queues take back unacknowledged messages for redelivery
            if sub.target is not None:
                self.hub.unsubscribe(sub, sub.target)
        if self._transactions is not None:
            self._transactions.clear()  # the implicit ABORT
        for gate in self._gates:
            gate.leave(self)
        self._gates = _NO_GATES
        self.gate.open()
        self._held_frames = None
        self._held_bytes = None
        self._held_error = None
        self._parser.discard()  # an unfinished frame is never read now
        if self._budget is not None:
            self._blocked = False
            self._budget.forget(self)
            self._account()
        self._wake()


def _one_line(text: str) -> str:
    return " ".join(text.split()) if ("\n" in text or "\r" in text) else text

_HANDLERS: dict[str, Callable[[ServerSession, Frame], None]] = {
    "CONNECT": ServerSession._on_connect,
    "STOMP": ServerSession._on_connect,
    "SEND": ServerSession._on_send,
    "SUBSCRIBE": ServerSession._on_subscribe,
    "UNSUBSCRIBE": ServerSession._on_unsubscribe,
    "ACK": ServerSession._on_ack,
    "NACK": ServerSession._on_nack,
    "BEGIN": ServerSession._on_begin,
    "COMMIT": ServerSession._on_commit,
    "ABORT": ServerSession._on_abort,
    "DISCONNECT": ServerSession._on_disconnect,
}
