"""The site's static files: the built docs, the browser client, the chat and the part pages.

Twisted's own `twisted.web.static.File` was the first way to serve them, and the edges of it
mattered more than the middle: a two-range request could leave the file open and the client
without an answer, thousands of overlapping ranges made a small file answer with a huge
body, an undecodable or NUL-bearing path answered 500 with a traceback in the log, and
every file of the folder was public, the build's private files (``.doctrees``,
``.buildinfo``) included. `StaticFiles` serves a folder read-only with each of those decided
here:

- **What is public.** A path is taken segment by segment, as Twisted unquoted them. A
  segment that is not UTF-8 or holds a NUL is a 400; ``.``, ``..``, a name starting with a
  dot, a segment holding ``/`` or ``\\`` (a ``%2f``), ``__pycache__`` and the names a mount
  hides (the workshop's ``exercise`` folders) are 404, as if absent; so is a file reached
  through a link that leaves the folder. A folder answers with its ``index.html``, never a
  listing; a folder named without its trailing slash is redirected to it.
- **Ranges.** At most one piece of a file (`comet_core.transports.http.ranges`), so an
  answer is never longer than the file.
- **The file is closed on every path**: small files (up to `CHUNK`) are read at once;
  larger ones by `FileBody`, which closes its file when the answer ends, fails, or the
  client goes away.
- **Headers.** ``X-Content-Type-Options: nosniff`` on every answer, a type from the
  extension (``application/octet-stream`` when unknown), ``Last-Modified`` (and 304 for
  ``If-Modified-Since``); a mount may add headers (the app pages' `APP_HEADERS`).
- **Refusals** are a status and a one-line ``text/plain`` message: 405 with
  ``Allow: GET, HEAD`` for other methods, 503 when the server is out of file descriptors.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import stat
from pathlib import Path
from typing import IO, Any

from twisted.internet.interfaces import IPullProducer
from twisted.logger import Logger
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

from comet_core.transports.http.ranges import plan

log = Logger(namespace="comet_core.static")

#: Files up to this size are read and answered at once; larger ones are sent by a producer,
#: this many bytes at a time.
CHUNK = 64 * 1024

#: Names never served, in any folder (beside every name starting with a dot).
ALWAYS_HIDDEN = frozenset({"__pycache__"})

#: The headers of the pages that are apps (the chat, the part pages): scripts, styles and
#: connections (XHR, EventSource, WebSocket) from this origin only, no inline script or
#: style, no plugin, and no other site may frame them (clickjacking).
APP_HEADERS: dict[bytes, bytes] = {
    b"content-security-policy": (
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'"),
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
}

_UTF8 = "; charset=utf-8"
#: The site's own kinds of file, named exactly; anything else is looked up in Python's
#: built-in table (never the machine's, so every machine answers alike).
_TYPES = {
    ".html": "text/html" + _UTF8, ".htm": "text/html" + _UTF8,
    ".js": "text/javascript" + _UTF8, ".mjs": "text/javascript" + _UTF8,
    ".css": "text/css" + _UTF8, ".txt": "text/plain" + _UTF8,
    ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".ico": "image/vnd.microsoft.icon", ".woff": "font/woff",
    ".woff2": "font/woff2", ".ttf": "font/ttf", ".ipynb": "application/x-ipynb+json",
    ".wasm": "application/wasm", ".xml": "application/xml", ".pdf": "application/pdf",
}
_BUILTIN = mimetypes.MimeTypes()  # Python's table alone: it reads no file of the machine
UNKNOWN_TYPE = "application/octet-stream"


def content_type(name: str) -> bytes:
    """The ``Content-Type`` of a file called `name`; `UNKNOWN_TYPE` when unsure.

    A compressed file (``.gz``) is its bytes, not the type inside: no ``Content-Encoding``
    is claimed, so a browser saves it rather than unpacking and showing it."""
    suffix = os.path.splitext(name)[1].lower()
    known = _TYPES.get(suffix)
    if known is None:
        guessed, encoding = _BUILTIN.guess_type(name, strict=True)
        if guessed is None or encoding is not None:
            known = UNKNOWN_TYPE
        elif guessed.startswith("text/"):
            known = guessed + _UTF8
        else:
            known = guessed
    return known.encode("ascii")


class Refusal(Exception):
    """A request this folder will not answer with a file: a status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AddSlash(Exception):
    """The path names a folder without its trailing slash."""


NOT_FOUND = "There is no page at this address."


def resolve(root: Path, segments: list[bytes], hidden: frozenset[str] = frozenset()) -> Path:
    """The file under `root` that `segments` (a request's unquoted path) name.

    Raises `Refusal` (400 or 404) for a path that is malformed or not public, `AddSlash`
    for a folder named without its slash. A folder gives its ``index.html``."""
    names: list[str] = []
    last = len(segments) - 1
    for i, raw in enumerate(segments):
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refusal(400, "This address is not valid UTF-8 once its %-escapes are "
                               "decoded.") from None
        if "\0" in name:
            raise Refusal(400, "This address holds a NUL character (%00).")
        if name == "" and i == last:
            names.append("index.html")
            break
        if (name == "" or name.startswith(".") or "/" in name or "\\" in name
                or name in ALWAYS_HIDDEN or name in hidden):
            raise Refusal(404, NOT_FOUND)
        names.append(name)
    path = root.joinpath(*names)
    try:
        info = path.stat()
        real = os.path.realpath(path)
    except (OSError, ValueError):  # absent, a name too long, a file where a folder was...
        raise Refusal(404, NOT_FOUND) from None
    base = os.path.realpath(root)
    if real != base and not real.startswith(base + os.sep):
        raise Refusal(404, NOT_FOUND)  # a link that leaves the folder
    if stat.S_ISDIR(info.st_mode):
        if not segments or segments[-1] != b"":
            raise AddSlash()
        raise Refusal(404, NOT_FOUND)  # a folder's index.html that is itself a folder
    if not stat.S_ISREG(info.st_mode):
        raise Refusal(404, NOT_FOUND)
    return path


def refuse(request: Any, status: int, message: str,
           headers: dict[bytes, bytes] | None = None) -> bytes:
    """Set up a refusal on `request`; its body (a one-line message) is returned, or
    nothing for a HEAD."""
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"cache-control", b"no-store")
    for name, value in (headers or {}).items():
        request.setHeader(name, value)
    body = message.replace("\n", " ").encode("utf-8") + b"\n"
    if request.method == b"HEAD":  # the length of the body a GET would get, and no body
        request.setHeader(b"content-length", b"%d" % len(body))
        return b""
    return body


def not_allowed(request: Any) -> bytes:
    """405: static pages are read, never written."""
    return refuse(request, 405, "Pages take GET and HEAD only.", {b"allow": b"GET, HEAD"})


def redirect(request: Any, location: bytes) -> bytes:
    """A 302 to `location` (a path on this site), with a one-line body."""
    body = refuse(request, 302, "This page is at " + location.decode("latin-1"))
    request.setHeader(b"location", location)
    return body


class Redirect(Resource):
    """Any request here is sent to `location` (the site's root goes to its home page)."""

    isLeaf = True

    def __init__(self, location: bytes) -> None:
        super().__init__()
        self.location = location

    def render(self, request: Any) -> bytes:
        if request.method not in (b"GET", b"HEAD"):
            return not_allowed(request)
        return redirect(request, self.location)


class StaticFiles(Resource):
    """A folder, served read-only; see the module docstring.

    `hidden`: names (of files or folders, at any depth) never served. `headers`: added to
    every answer from this folder."""

    isLeaf = True

    def __init__(self, root: Path | str, *, hidden: frozenset[str] = frozenset(),
                 headers: dict[bytes, bytes] | None = None) -> None:
        super().__init__()
        self.root = Path(root)
        self.hidden = hidden
        self.headers = dict(headers or {})

    def render(self, request: Any) -> Any:
        if request.method not in (b"GET", b"HEAD"):
            return not_allowed(request)
        try:
            path = resolve(self.root, list(request.postpath), self.hidden)
        except Refusal as exc:
            return refuse(request, exc.status, str(exc))
        except AddSlash:
            path_part, sep, query = request.uri.partition(b"?")
            return redirect(request, path_part + b"/" + sep + query)
        try:
            file = open(path, "rb")  # noqa: SIM115 (closed by every path below)
        except OSError as exc:
            return self._cannot_open(request, exc)
        try:
            return self._answer(request, path, file)
        except BaseException:
            file.close()
            raise

    @staticmethod
    def _cannot_open(request: Any, exc: OSError) -> bytes:
        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOMEM):
            log.warn("cannot open a static file: {reason}", reason=exc.strerror)
            request.setHeader(b"retry-after", b"1")
            return refuse(request, 503, "The server is busy: try again in a moment.")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return refuse(request, 403, "This file may not be read.")
        return refuse(request, 404, NOT_FOUND)

    def _answer(self, request: Any, path: Path, file: IO[bytes]) -> Any:
        info = os.fstat(file.fileno())
        request.setHeader(b"x-content-type-options", b"nosniff")
        for name, value in self.headers.items():
            request.setHeader(name, value)
        request.setHeader(b"accept-ranges", b"bytes")
        if request.setLastModified(info.st_mtime) is http.CACHED:
            file.close()  # 304, no body
            return b""
        ranges = request.getHeader(b"range")
        if_range = request.getHeader(b"if-range")
        if (if_range is not None
                and if_range.strip() != http.datetimeToString(request.lastModified)):
            ranges = None  # the client's copy is another version: the whole file
        answer = plan(ranges, info.st_size)
        content_range = answer.content_range()
        if content_range is not None:
            request.setHeader(b"content-range", content_range)
        if answer.status == 416:
            file.close()
            return refuse(request, 416, f"No range asked for starts inside this file "
                                        f"({answer.size} bytes).")
        request.setResponseCode(answer.status)
        request.setHeader(b"content-type", content_type(path.name))
        request.setHeader(b"content-length", b"%d" % answer.length)
        if request.method == b"HEAD" or answer.length == 0:
            file.close()
            return b""
        if answer.length <= CHUNK:
            with file:
                file.seek(answer.start)
                data = file.read(answer.length)
            if len(data) != answer.length:
                return self._changed(request)
            return data
        FileBody(request, file, answer.start, answer.length).start()
        return NOT_DONE_YET

    @staticmethod
    def _changed(request: Any) -> bytes:
        log.warn("a static file changed while it was read: {path}", path=request.path)
        request.responseHeaders.removeHeader(b"content-range")
        return refuse(request, 503, "This file is being replaced: try again in a moment.")


@implementer(IPullProducer)
class FileBody:
    """Writes `length` bytes of `file` from `start` to `request`, a chunk each time the
    connection asks, and closes the file however the answer ends: complete, cut short by a
    file that shrank (the connection is then closed, as the promised length cannot be kept)
    or by the client going away (Twisted calls `stopProducing`, and `notifyFinish` fails)."""

    def __init__(self, request: Any, file: IO[bytes], start: int, length: int) -> None:
        self.request = request
        self.file: IO[bytes] | None = file
        self.start_at = start
        self.remaining = length

    def start(self) -> None:
        assert self.file is not None
        self.file.seek(self.start_at)
        self.request.notifyFinish().addBoth(self._ended)
        self.request.registerProducer(self, False)

    def resumeProducing(self) -> None:  # noqa: N802 (Twisted's names)
        if self.file is None:
            return
        try:
            data = self.file.read(min(CHUNK, self.remaining))
        except OSError as exc:
            log.warn("reading a static file failed: {reason}", reason=exc.strerror)
            data = b""
        if not data:  # the file shrank, or could not be read: the length cannot be kept
            log.warn("a static file ended before its promised length; connection closed")
            self.close()
            self.request.unregisterProducer()
            self.request.loseConnection()
            return
        self.remaining -= len(data)
        self.request.write(data)
        if self.remaining <= 0 and self.file is not None:
            self.close()
            self.request.unregisterProducer()
            self.request.finish()

    def stopProducing(self) -> None:  # noqa: N802
        self.close()

    def _ended(self, result: Any) -> None:
        """The answer is over (finished, or the connection lost): nothing more to read."""
        self.close()
        return None  # a lost connection is not an error to report

    def close(self) -> None:
        file, self.file = self.file, None
        if file is not None:
            file.close()
