"""`comet_core.transports.http.ranges.plan`: a ``Range`` header and a size in, the one piece
to send out; never more bytes than the file, whatever the header asks."""

from __future__ import annotations

import pytest

from comet_core.transports.http.ranges import Plan, plan

SIZE = 77_000


@pytest.mark.parametrize(("header", "expected"), [
    (None, Plan(200, 0, SIZE, SIZE)),
    (b"bytes=0-99", Plan(206, 0, 100, SIZE)),
    (b"bytes=100-", Plan(206, 100, SIZE, SIZE)),
    (b"bytes=-100", Plan(206, SIZE - 100, SIZE, SIZE)),
    (b"bytes=-999999", Plan(206, 0, SIZE, SIZE)),  # a suffix longer than the file: all of it
    (b"bytes=0-999999", Plan(206, 0, SIZE, SIZE)),  # an end past the file: to its end
    (b"bytes=0-65379,0-10", Plan(206, 0, 65380, SIZE)),  # overlapping: merged
    (b"bytes=0-9,10-19", Plan(206, 0, 20, SIZE)),  # adjacent: merged
    (b"bytes=50-59, 0-9 ,5-55", Plan(206, 0, 60, SIZE)),  # any order, spaces
    (b"bytes=0-0,2-2", Plan(200, 0, SIZE, SIZE)),  # disjoint: the whole file
    (b"bytes=0-9,90000-", Plan(206, 0, 10, SIZE)),  # a piece past the end is dropped
    (b"bytes=90000-", Plan(416, 0, 0, SIZE)),
    (b"bytes=-0", Plan(416, 0, 0, SIZE)),
    (b"bytes=9-0", Plan(200, 0, SIZE, SIZE)),  # invalid: ignored
    (b"bytes=a-b", Plan(200, 0, SIZE, SIZE)),
    (b"bytes=", Plan(200, 0, SIZE, SIZE)),
    (b"bytes 0-9", Plan(200, 0, SIZE, SIZE)),
    (b"pages=1-2", Plan(200, 0, SIZE, SIZE)),
    (b"BYTES=0-9", Plan(206, 0, 10, SIZE)),
    (b"bytes=" + b"9" * 5000 + b"-", Plan(200, 0, SIZE, SIZE)),  # no 5000-digit number
])
def test_the_plan_for_a_header(header, expected):
    assert plan(header, SIZE) == expected


def test_thousands_of_ranges_never_ask_for_more_than_the_file():
    for header in (b"bytes=" + b",".join([b"0-"] * 2000),
                   b"bytes=" + b",".join(b"%d-%d" % (i, i + 500) for i in range(0, 60000, 7)),
                   b"bytes=" + b",".join(b"%d-%d" % (i, i) for i in range(0, 6000, 2))):
        answer = plan(header, SIZE)
        assert answer.length <= SIZE
        assert answer.status in (200, 206)


def test_content_range_values():
    assert plan(b"bytes=10-19", SIZE).content_range() == b"bytes 10-19/77000"
    assert plan(b"bytes=90000-", SIZE).content_range() == b"bytes */77000"
    assert plan(None, SIZE).content_range() is None


def test_an_empty_file_is_sent_whole():
    assert plan(b"bytes=0-10", 0) == Plan(200, 0, 0, 0)
