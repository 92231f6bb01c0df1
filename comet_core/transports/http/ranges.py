"""Which bytes of a file answer a ``Range`` header: a plan, decided without any I/O.

A ``Range`` header may ask for many pieces of a file, in any order, overlapping. Answered
literally, as multipart pieces, a few hundred bytes of header can ask a server for
thousands of copies of one file. The site's static files answer at most one piece:

- no header, a unit other than ``bytes``, or a header that does not parse: the whole file
  (200), as RFC 9110 lets a server ignore a ``Range`` it does not take;
- ranges that overlap or touch are merged; one range left: that range (206), with a
  ``Content-Range``;
- several disjoint ranges left: the whole file (200), never a multipart answer, so a body
  is never longer than the file (nginx also answers the whole file when the ranges add up
  to more than it);
- no range that starts inside the file: 416, with ``Content-Range: bytes */SIZE``.

`plan` is all of it: a header and a size in, a `Plan` out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: One byte-range-spec: ``first-last``, ``first-``, or ``-suffix`` (RFC 9110, 14.1.1).
#: At most 18 digits each: a larger number is no offset into any file.
_SPEC = re.compile(rb"\s*(?:([0-9]{1,18})-([0-9]{0,18})|-([0-9]{1,18}))\s*")


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send: `status` (200, 206 or 416) and the bytes ``[start, stop)`` of the file."""

    status: int
    start: int
    stop: int
    size: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def content_range(self) -> bytes | None:
        """The ``Content-Range`` value a 206 or a 416 carries; None for a 200."""
        if self.status == 206:
            return b"bytes %d-%d/%d" % (self.start, self.stop - 1, self.size)
        if self.status == 416:
            return b"bytes */%d" % self.size
        return None


def whole(size: int) -> Plan:
    return Plan(200, 0, size, size)


def parse(header: bytes) -> list[tuple[int | None, int | None]] | None:
    """The ranges of a ``Range`` value as ``(first, last)``, with ``(None, n)`` for the
    last n bytes and ``(first, None)`` for "to the end"; None if it does not parse."""
    unit, sep, specs = header.partition(b"=")
    if not sep or unit.strip().lower() != b"bytes":
        return None
    ranges: list[tuple[int | None, int | None]] = []
    for spec in specs.split(b","):
        if not spec.strip():
            continue  # RFC 9110 allows empty list elements
        m = _SPEC.fullmatch(spec)
        if m is None:
            return None
        first, last, suffix = m.groups()
        if suffix is not None:
            ranges.append((None, int(suffix)))
        elif last:
            if int(last) < int(first):
                return None  # RFC 9110: such a range is invalid
            ranges.append((int(first), int(last)))
        else:
            ranges.append((int(first), None))
    return ranges or None


def plan(header: bytes | None, size: int) -> Plan:
    """The answer to `header` (the ``Range`` value, or None) for a file of `size` bytes."""
    if header is None or size == 0:
        return whole(size)
    ranges = parse(header)
    if ranges is None:
        return whole(size)
    pieces: list[tuple[int, int]] = []  # [start, stop) inside the file
    for first, last in ranges:
        if first is None:  # the last `last` bytes
            if last:  # "-0" asks for no bytes: unsatisfiable
                pieces.append((max(0, size - last), size))
        elif first < size:
            stop = size if last is None else min(last + 1, size)
            pieces.append((first, stop))
    if not pieces:
        return Plan(416, 0, 0, size)
    pieces.sort()
    start, stop = pieces[0]
    for piece_start, piece_stop in pieces[1:]:
        if piece_start > stop:  # a gap: several pieces, so the whole file
            return whole(size)
        stop = max(stop, piece_stop)
    return Plan(206, start, stop, size)
