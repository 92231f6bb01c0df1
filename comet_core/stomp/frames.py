"""STOMP frames: the `Frame` value, its encoding, and an incremental sans-IO parser.

A frame on the wire is a command line, header lines ``name:value``, a blank line, a body
and a NUL octet::

    SEND\\n
    destination:/topic/chat\\n
    content-length:5\\n
    \\n
    hello\\0

`FrameParser` is fed bytes as they arrive, in any chunking, and hands back complete
frames. It owns no socket and no clock, so the same object serves TCP, every HTTP
transport, the tests and a notebook. It never loops over single bytes in Python: it
searches a `bytearray` with `re`/`bytes.find` from a read offset, resumes each search
where the last one stopped, and checks its bounds as bytes arrive, so a peer can neither
make it quadratic nor make its buffer grow past ``max_frame_size`` (plus one read).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from comet_core.stomp.errors import (
    FrameTooLarge,
    HeaderTooLong,
    LimitExceeded,
    MalformedFrame,
    StompError,
    TooManyHeaders,
)

__all__ = [
    "MAX_FRAME_SIZE",
    "MAX_HEADERS",
    "MAX_HEADER_LENGTH",
    "RAW_COMMANDS",
    "VERSIONS",
    "Frame",
    "FrameParser",
    "FrameTooLarge",
    "HeaderTooLong",
    "LimitExceeded",
    "MalformedFrame",
    "StompError",
    "TooManyHeaders",
    "encode_frame",
]

VERSIONS = ("1.0", "1.1", "1.2")

#: The parser's default bounds: a frame of a 1 MiB body plus 64 KiB of command and
#: headers, at most 1000 headers, each line at most 8 KiB.
MAX_FRAME_SIZE = (1 << 20) + (64 << 10)
MAX_HEADERS = 1000
MAX_HEADER_LENGTH = 8192

# Frames whose headers are never escaped, whatever the version (STOMP 1.1 and 1.2 say so
# for CONNECT and CONNECTED; STOMP is 1.2's name for CONNECT): when they are sent, the
# version is not agreed yet.
RAW_COMMANDS = frozenset({"CONNECT", "STOMP", "CONNECTED"})

# --- encoding ------------------------------------------------------------------------

_ESCAPES_11 = {ord("\\"): "\\\\", ord("\n"): "\\n", ord(":"): "\\c"}
_ESCAPES_12 = {**_ESCAPES_11, ord("\r"): "\\r"}


def _escape_11(text: str) -> str:
    if "\\" in text or ":" in text or "\n" in text:
        return text.translate(_ESCAPES_11)
    return text


def _escape_12(text: str) -> str:
    if "\\" in text or ":" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPES_12)
    return text


def _unwritable(name: str, value: str, version: str, raw: bool) -> str | None:
    """Why this header cannot be written unchanged (None if it can).

    No version can escape NUL, which ends a frame: a header holding one would let its
    remainder be read as another frame. Where LF cannot be escaped (1.0, the raw frames) it
    is refused; a CR is refused where no escape exists and it would end up before the
    line's LF (a CR elsewhere is no line ending, in any version).
    """
    if not name:
        return "a header name cannot be empty"
    if "\0" in name or "\0" in value:
        return f"header {name[:64]!r} holds a NUL, which would end the frame"
    if raw:
        if ":" in name or "\n" in name:
            return f"header name {name!r} needs escaping, which {version} frames lack"
        if "\n" in value:
            return f"value of {name!r} contains a line feed and cannot be escaped here"
    if value.endswith("\r") and (raw or version == "1.1"):
        return f"value of {name!r} ends with CR, which would be read as a line ending"
    return None


def encode_frame(
    command: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    version: str = "1.2",
) -> bytes:
    """Encode one frame for a peer speaking `version`; see `Frame.encode`.

    A function as well as a method so that a hot path (a MESSAGE for each subscriber)
    need not build a `Frame` first.
    """
    if version not in VERSIONS:
        raise ValueError(f"unknown STOMP version {version!r}; known: {', '.join(VERSIONS)}")
    if not (command.isascii() and command.isalpha() and command.isupper()):
        raise ValueError(f"a STOMP command is upper-case ASCII letters, not {command!r}")
    if not isinstance(headers, list | tuple):
        headers = list(headers)  # read twice when something needs escaping
    lines = [f"{name}:{value}" for name, value in headers if name != "content-length"]
    if body:
        lines.append(f"content-length:{len(body)}")
    if not lines:
        return f"{command}\n\n".encode() + body + b"\0"
    head = "\n".join(lines)
    # The common case, checked on the joined head in a few C-speed scans instead of per
    # header: one colon and no LF per header, nothing to escape, no empty name, no NUL.
    if (
        head.count(":") != len(lines)
        or head.count("\n") != len(lines) - 1
        or "\\" in head
        or "\r" in head
        or "\0" in head
        or head[0] == ":"
        or "\n:" in head
    ):
        head = _careful_head(command, headers, version)
        if body:
            head += f"\ncontent-length:{len(body)}"
    return f"{command}\n{head}\n\n".encode() + body + b"\0"


def _careful_head(command: str, headers: Iterable[tuple[str, str]], version: str) -> str:
    """The header lines of a frame with something to escape or refuse, one at a time."""
    raw = version == "1.0" or command in RAW_COMMANDS
    escape = None if raw else _escape_12 if version == "1.2" else _escape_11
    lines = []
    for name, value in headers:
        if name == "content-length":
            continue
        problem = _unwritable(name, value, version, raw)
        if problem is not None:
            raise ValueError(problem)
        if escape is None:
            lines.append(f"{name}:{value}")
        else:
            lines.append(f"{escape(name)}:{escape(value)}")
    return "\n".join(lines)


# --- the frame -----------------------------------------------------------------------


@dataclass(slots=True)
class Frame:
    """One STOMP frame: a command, headers in wire order (repeats kept), a binary body."""

    command: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of header `name`; when it is repeated the first one wins (the spec's rule)."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def encode(self, version: str = "1.2") -> bytes:
        """The frame's bytes for a peer speaking `version`.

        Header names and values are escaped as `version` defines (not at all in 1.0;
        ``\\n \\c \\\\`` in 1.1; and ``\\r`` in 1.2), except in CONNECT, STOMP and CONNECTED
        frames, which are never escaped. Any ``content-length`` in `headers` is dropped
        and, when the body is not empty, a true one is written after the other headers,
        so a body may hold NUL octets. Lines end with LF; a NUL ends the frame.

        Raises ValueError for a header that this version cannot carry unchanged (a NUL in
        any version, a line feed without escaping, a value ending in CR outside 1.2, an
        empty name) rather than send a frame the peer would read differently.
        """
        return encode_frame(self.command, self.headers, self.body, version)


# --- decoding ------------------------------------------------------------------------

# The end of a frame's head: a blank line (LF or CR LF), or, as a leniency for stomper's
# `disconnect()` which omits the blank line, a NUL where the next header line would start.
_HEAD_END = re.compile(rb"\n(?:\r?\n|\x00)")
# EOLs between frames: heart-beats, and the LF many clients write after the NUL.
_EOLS = re.compile(rb"(?:\r?\n)+")
_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)
_HEADER_LINE = re.compile(r"^([^:\n]+):(.*)$", re.MULTILINE)
_UNESCAPES = {
    "1.1": {"n": "\n", "c": ":", "\\": "\\"},
    "1.2": {"n": "\n", "c": ":", "\\": "\\", "r": "\r"},
}

_HEAD, _BODY = 0, 1


def _unescaper(version: str) -> Callable[[str], str] | None:
    """A function undoing `version`'s header escapes; None for 1.0, which has none."""
    table = _UNESCAPES.get(version)
    if table is None:
        return None

    def replace(match: re.Match[str]) -> str:
        try:
            return table[match.group(1)]
        except KeyError:
            seq = match.group(0)
            what = "a backslash at the end" if seq == "\\" else f"undefined escape {seq!r}"
            raise MalformedFrame(
                "bad header escape",
                f"A header holds {what}. STOMP {version} defines only "
                + ", ".join("\\" + key for key in table)
                + "; write a backslash as \\\\.",
            ) from None

    sub = _ESCAPE.sub

    def unescape(text: str) -> str:
        return sub(replace, text) if "\\" in text else text

    return unescape


_UNESCAPERS = {version: _unescaper(version) for version in VERSIONS}


class FrameParser:
    """Turns a STOMP byte stream into `Frame` objects, in any chunking.

    `version` selects the header unescaping; CONNECT, STOMP and CONNECTED frames are never
    unescaped. The parser follows the negotiation it reads: after a CONNECT or STOMP frame
    its version becomes the highest of the frame's ``accept-version`` that is also in
    `versions` (1.0 without the header; unchanged when there is none in common), and after
    a CONNECTED frame the frame's ``version``. It has to: a client may send frames right
    behind its CONNECT, in the same read, before the session could set the version. A
    header (name or value) holding a NUL is refused: no version can carry one. The
    session may still set `version` at any time; it applies to heads not yet read. The bounds
    are checked as bytes arrive; going past one raises the matching `LimitExceeded`.
    After any `StompError` the parser is dead: every later `feed` raises the same error.
    """

    def __init__(
        self,
        *,
        version: str = "1.0",
        max_frame_size: int = MAX_FRAME_SIZE,
        max_headers: int = MAX_HEADERS,
        max_header_length: int = MAX_HEADER_LENGTH,
        versions: Iterable[str] = VERSIONS,
    ) -> None:
        offered = set(versions)
        self.versions = tuple(v for v in VERSIONS if v in offered)
        self.version = version
        self.max_frame_size = max_frame_size  # command + headers + body, in bytes
        self.max_headers = max_headers
        self.max_header_length = max_header_length  # one header line, in bytes, without EOL
        self._buf = bytearray()
        self._pos = 0  # where the frame being read starts (all before it is consumed)
        self._scan = 0  # where the next search resumes, so no byte is searched twice
        self._state = _HEAD
        self._error: StompError | None = None
        # A frame whose body is still arriving.
        self._command = ""
        self._headers: list[tuple[str, str]] = []
        self._body_start = 0
        self._body_end = -1  # the NUL's position when content-length gave it, else -1
        # Bound checks on a head still arriving: which frame they belong to, the start of
        # its unfinished line, how far LFs were counted, and the lines seen so far.
        self._track = -1
        self._line_start = 0
        self._line_scan = 0
        self._lines = 0

    @property
    def version(self) -> str:
        return self._version

    @version.setter
    def version(self, version: str) -> None:
        if version not in VERSIONS:
            raise ValueError(f"unknown STOMP version {version!r}; known: {', '.join(VERSIONS)}")
        self._version = version
        self._unescape = _UNESCAPERS[version]

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the frames they completed, in order.

        Raises a `StompError` for bad input. Its `frames` attribute holds the frames
        this call completed before the error.
        """
        if self._error is not None:
            self._error.frames = []  # handed out already, with the first raise
            raise self._error
        self._buf += data
        frames: list[Frame] = []
        try:
            self._parse(frames)
        except StompError as exc:
            exc.frames = frames
            self._error = exc
            raise
        self._compact()
        return frames

    # The hot path: locals only, and one helper call per frame (`_parse_head`).
    def _parse(self, frames: list[Frame]) -> None:
        buf = self._buf
        n = len(buf)
        pos = self._pos
        scan = self._scan
        state = self._state
        command, headers = self._command, self._headers
        body_start, end = self._body_start, self._body_end
        max_frame = self.max_frame_size
        while True:
            if state == _HEAD:
                if pos >= n:
                    break
                first = buf[pos]
                if first == 10 or first == 13:  # heart-beats or the EOL after a NUL
                    eols = _EOLS.match(buf, pos)
                    if eols is not None:
                        pos = scan = eols.end()
                        if pos >= n:
                            break
                found = _HEAD_END.search(buf, scan)
                if found is None:
                    self._check_partial_head(pos, n)
                    scan = max(pos, n - 2)
                    break
                head_end = found.start()
                command, headers, length = self._parse_head(pos, head_end)
                body_start = found.end()
                if buf[body_start - 1] == 0:  # stomper's head ended by the NUL: no body
                    frames.append(Frame(command, headers))
                    pos = scan = body_start
                    continue
                if length is None:
                    end = -1
                    scan = body_start
                else:
                    if body_start - pos + length > max_frame:
                        raise self._too_large()
                    end = body_start + length
                state = _BODY
            if end >= 0:
                if end >= n:
                    break
                if buf[end] != 0:
                    raise MalformedFrame(
                        "missing NUL after body",
                        f"The {command} frame's content-length says its body is "
                        f"{end - body_start} bytes, but the byte after them is not the NUL "
                        "that ends a frame.",
                    )
            else:
                end = buf.find(b"\0", scan)
                if end < 0:
                    if n - pos > max_frame:
                        raise self._too_large()
                    scan = n
                    break
                if end - pos > max_frame:
                    raise self._too_large()
            frames.append(Frame(command, headers, bytes(buf[body_start:end])))
            pos = scan = end + 1
            state = _HEAD
        self._pos = pos
        self._scan = scan
        self._state = state
        if state == _BODY:
            self._command = command
            self._headers = headers
            self._body_start = body_start
            self._body_end = end

    def _parse_head(self, start: int, end: int) -> tuple[str, list[tuple[str, str]], int | None]:
        """Command, headers and content-length of the head in ``buf[start:end]``.

        `end` is the LF of the last header line (or of the command line).
        """
        if end - start > self.max_header_length:
            # Only a long head can hold a long line; short heads skip this check.
            if end - start > self.max_frame_size:
                raise self._too_large()
            for line in bytes(self._buf[start:end]).split(b"\n"):
                if len(line) - line.endswith(b"\r") > self.max_header_length:
                    raise self._header_too_long()
        try:
            text = self._buf[start:end].decode()
        except UnicodeDecodeError:
            raise MalformedFrame(
                "invalid UTF-8", "A frame's command and headers must be UTF-8 text."
            ) from None
        if "\r" in text:  # CR LF line endings: drop each line's CR
            text = text.replace("\r\n", "\n")
            if text[-1] == "\r":
                text = text[:-1]
        command, _, rest = text.partition("\n")
        if not (command.isascii() and command.isalpha() and command.isupper()):
            raise MalformedFrame(
                "bad command",
                f"Expected a command line such as SEND or SUBSCRIBE, got {command[:40]!r}.",
            )
        if not rest:
            return command, [], None
        if "\0" in rest:
            raise self._nul_in_header(rest)
        count = rest.count("\n") + 1
        if count > self.max_headers:
            raise TooManyHeaders(
                f"too many headers (max_headers is {self.max_headers})",
                f"A frame may have at most {self.max_headers} headers; this one has {count}.",
                limit=self.max_headers,
            )
        # One C-speed pass yields the (name, value) pairs; a line it cannot match is a
        # line without a colon or without a name, found by the count.
        headers = _HEADER_LINE.findall(rest)
        if len(headers) != count:
            bad = next(line for line in rest.split("\n") if not _HEADER_LINE.fullmatch(line))
            raise MalformedFrame(
                "bad header line",
                f"A header line is name:value with a non-empty name; got {bad[:40]!r}.",
            )
        if command in RAW_COMMANDS:
            self._follow_negotiation(command, headers)
        elif self._unescape is not None and "\\" in rest:
            unescape = self._unescape
            headers = [(unescape(name), unescape(value)) for name, value in headers]
        if "content-length" not in rest:
            return command, headers, None
        for name, value in headers:
            if name == "content-length":
                length = value
                break
        else:
            return command, headers, None
        if not (length.isascii() and length.isdigit()):
            raise MalformedFrame(
                "bad content-length",
                f"content-length must be a number of octets, got {length[:40]!r}.",
            )
        return command, headers, int(length)

    @staticmethod
    def _nul_in_header(lines: str) -> MalformedFrame:
        """The error for header `lines` holding a NUL, naming the header.

        A NUL ends a frame in every version and no version has an escape for it, so a
        header holding one is never valid; forwarding it would let a sender end the
        frame early and have the rest read by a subscriber as a frame of the server's.
        """
        line = lines[lines.rfind("\n", 0, lines.index("\0")) + 1:].partition("\n")[0]
        name = line.partition(":")[0][:64]
        return MalformedFrame(
            f"NUL in header {name!r}",
            f"Header {name!r} holds a NUL octet. A NUL ends a STOMP frame and no version "
            "can escape it in a header; send such data in the body, with content-length.",
        )

    def _follow_negotiation(self, command: str, headers: list[tuple[str, str]]) -> None:
        """Switch to the version that this CONNECT, STOMP or CONNECTED frame settles on."""
        offered = "1.0"
        for name, value in headers:
            if name == ("version" if command == "CONNECTED" else "accept-version"):
                offered = value
                break
        common = {v.strip() for v in offered.split(",")}.intersection(self.versions)
        if common:
            self.version = max(common, key=VERSIONS.index)

    def _check_partial_head(self, pos: int, n: int) -> None:
        """Enforce the bounds on a head that has not fully arrived.

        Counts only the LFs that arrived since the last call, so a head trickling in
        byte by byte costs linear time.
        """
        if n - pos > self.max_frame_size:
            raise self._too_large()
        if self._track != pos:
            self._track = self._line_start = self._line_scan = pos
            self._lines = 0
        buf = self._buf
        limit = self.max_header_length
        start = self._line_start
        while True:
            lf = buf.find(b"\n", self._line_scan, n)
            if lf < 0:
                break
            if lf - start - (lf > start and buf[lf - 1] == 13) > limit:
                raise self._header_too_long()
            self._lines += 1
            if self._lines > self.max_headers + 1:  # the command line, then the headers
                raise TooManyHeaders(
                    f"too many headers (max_headers is {self.max_headers})",
                    f"A frame may have at most {self.max_headers} headers.",
                    limit=self.max_headers,
                )
            start = self._line_scan = lf + 1
        # One more byte is allowed: it may be the CR of a CR LF.
        if n - start > limit + 1:
            raise self._header_too_long()
        self._line_start = start
        self._line_scan = n

    def _too_large(self) -> FrameTooLarge:
        return FrameTooLarge(
            f"frame too large (max_frame_size is {self.max_frame_size} bytes)",
            f"A frame's command, headers and body together may be at most "
            f"{self.max_frame_size} bytes.",
            limit=self.max_frame_size,
        )

    def _header_too_long(self) -> HeaderTooLong:
        return HeaderTooLong(
            f"header too long (max_header_length is {self.max_header_length} bytes)",
            f"A header line (or the command line) may be at most {self.max_header_length} bytes.",
            limit=self.max_header_length,
        )

    def discard(self) -> None:
        """Drop whatever is buffered (the connection ended; its memory goes back now)."""
        self._buf = bytearray()
        self._pos = self._scan = 0
        self._state = _HEAD
        self._track = -1

    def _compact(self) -> None:
        """Drop the consumed bytes (cheap: a bytearray drops its front in O(1))."""
        pos = self._pos
        if not pos:
            return
        del self._buf[:pos]
        self._pos = 0
        self._scan -= pos
        if self._state == _BODY:
            self._body_start -= pos
            if self._body_end >= 0:
                self._body_end -= pos
        if self._track >= 0:
            self._track -= pos
            self._line_start -= pos
            self._line_scan -= pos
