"""The STOMP frame codec: every rule of the wire format, each version's escaping, the bounds."""

from __future__ import annotations

import pytest

from comet_core.stomp import (
    VERSIONS,
    Frame,
    FrameParser,
    FrameTooLarge,
    HeaderTooLong,
    LimitExceeded,
    MalformedFrame,
    StompError,
    TooManyHeaders,
    encode_frame,
)


def parse(data: bytes, version: str = "1.2", **bounds: int) -> list[Frame]:
    return FrameParser(version=version, **bounds).feed(data)


def parse_bytewise(data: bytes, version: str = "1.2", **bounds: int) -> list[Frame]:
    parser = FrameParser(version=version, **bounds)
    frames: list[Frame] = []
    for i in range(len(data)):
        frames += parser.feed(data[i : i + 1])
    assert parser.buffered == 0
    return frames


# --- the basic shape -----------------------------------------------------------------


def test_a_frame_has_command_headers_and_body() -> None:
    [frame] = parse(b"SEND\ndestination:/topic/a\nreceipt:7\n\nhello\0")
    assert frame == Frame("SEND", [("destination", "/topic/a"), ("receipt", "7")], b"hello")


def test_a_frame_without_headers_or_body() -> None:
    assert parse(b"DISCONNECT\n\n\0") == [Frame("DISCONNECT")]


def test_an_incomplete_frame_is_held_until_its_nul() -> None:
    parser = FrameParser()
    assert parser.feed(b"SEND\ndestination:/q\n\nhel") == []
    assert parser.buffered == len(b"SEND\ndestination:/q\n\nhel")
    assert parser.feed(b"lo\0") == [Frame("SEND", [("destination", "/q")], b"hello")]
    assert parser.buffered == 0


def test_many_frames_in_one_read() -> None:
    data = b"".join(
        Frame("SEND", [("destination", f"/queue/{i}")], b"%d" % i).encode() for i in range(500)
    )
    frames = parse(data)
    assert [f.get("destination") for f in frames] == [f"/queue/{i}" for i in range(500)]
    assert [f.body for f in frames] == [b"%d" % i for i in range(500)]


STREAM = (
    b"\n\r\n"
    b"CONNECT\r\naccept-version:1.2\r\nhost:h\r\n\r\n\0\n"
    b"SEND\ndestination:/q\ncontent-length:3\n\na\0b\0\r\n\n"
    b"SEND\r\ndestination:/t\\cx\r\n\r\nline one\nline two\0"
    b"\n\n\n"
    b"BEGIN\ntransaction:t\n\n\0"
)


def test_one_byte_at_a_time_gives_the_same_frames_as_one_read() -> None:
    whole = parse(STREAM)
    assert [f.command for f in whole] == ["CONNECT", "SEND", "SEND", "BEGIN"]
    assert whole[1].body == b"a\0b"
    assert whole[2].get("destination") == "/t:x"
    assert whole[2].body == b"line one\nline two"
    assert parse_bytewise(STREAM) == whole


def test_every_split_point_gives_the_same_frames() -> None:
    whole = parse(STREAM)
    for cut in range(len(STREAM) + 1):
        parser = FrameParser(version="1.2")
        assert parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:]) == whole, cut


def test_a_big_body_in_many_small_chunks() -> None:
    body = bytes(range(256)) * 2000  # NULs inside, so content-length is needed
    data = Frame("SEND", [("destination", "/q")], body).encode()
    parser = FrameParser()
    frames = []
    for i in range(0, len(data), 100):
        frames += parser.feed(data[i : i + 100])
    assert [f.body for f in frames] == [body]


# --- line endings and heart-beats ----------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_crlf_and_lf_line_endings_are_both_accepted(version: str) -> None:
    lf = b"SUBSCRIBE\nid:1\ndestination:/topic/a\n\n\0"
    crlf = lf.replace(b"\n", b"\r\n")
    mixed = b"SUBSCRIBE\r\nid:1\ndestination:/topic/a\r\n\n\0"
    expected = [Frame("SUBSCRIBE", [("id", "1"), ("destination", "/topic/a")])]
    assert parse(lf, version) == parse(crlf, version) == parse(mixed, version) == expected


def test_crlf_is_not_taken_from_the_body() -> None:
    [frame] = parse(b"SEND\r\n\r\n\r\nbody\r\n\0")
    assert frame.body == b"\r\nbody\r\n"


@pytest.mark.parametrize("beat", [b"\n", b"\r\n", b"\n\r\n\n"])
def test_eols_between_frames_are_heart_beats_and_skipped(beat: bytes) -> None:
    parser = FrameParser()
    assert parser.feed(beat) == []
    assert parser.buffered == 0
    frames = parser.feed(b"BEGIN\ntransaction:1\n\n\0" + beat + b"COMMIT\ntransaction:1\n\n\0")
    assert [f.command for f in frames] == ["BEGIN", "COMMIT"]
    assert parser.feed(beat) == []
    assert parser.buffered == 0


def test_a_cr_waiting_for_its_lf_is_not_an_error() -> None:
    parser = FrameParser()
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\nACK\nid:1\n\n\0") == [Frame("ACK", [("id", "1")])]


def test_endless_heart_beats_hold_no_memory() -> None:
    parser = FrameParser(max_frame_size=1000)
    for _ in range(100):
        assert parser.feed(b"\n" * 100_000) == []
        assert parser.buffered == 0


# --- headers -------------------------------------------------------------------------


def test_repeated_headers_are_all_kept_and_the_first_wins() -> None:
    [frame] = parse(b"MESSAGE\nfoo:first\nbar:x\nfoo:second\n\n\0")
    assert frame.headers == [("foo", "first"), ("bar", "x"), ("foo", "second")]
    assert frame.get("foo") == "first"
    assert frame.get("missing") is None
    assert frame.get("missing", "dflt") == "dflt"


@pytest.mark.parametrize("version", VERSIONS)
def test_header_values_are_never_trimmed(version: str) -> None:
    [frame] = parse(b"SEND\ndestination: /queue/a \nempty:\n\n\0", version)
    assert frame.headers == [("destination", " /queue/a "), ("empty", "")]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_value_may_hold_raw_colons(version: str) -> None:
    [frame] = parse(b"MESSAGE\nmessage-id:ID:host-1:2:3\n\n\0", version)
    assert frame.get("message-id") == "ID:host-1:2:3"


def test_headers_are_utf8() -> None:
    [frame] = parse("SEND\ndestination:/topic/café\nnote:日本\n\n\0".encode())
    assert frame.headers == [("destination", "/topic/café"), ("note", "日本")]


@pytest.mark.parametrize(
    "data",
    [
        b"SEND\ndestination:/topic/caf\xe9\n\n\0",  # Latin-1, not UTF-8
        b"SEND\n\xff:x\n\n\0",
    ],
)
def test_invalid_utf8_in_headers_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedFrame, match="UTF-8"):
        parse(data)


def test_the_body_is_bytes_and_need_not_be_utf8() -> None:
    [frame] = parse(b"SEND\n\n\xff\xfe\x80\0")
    assert frame.body == b"\xff\xfe\x80"


@pytest.mark.parametrize("line", [b"no colon here", b":value without a name"])
def test_a_bad_header_line_is_malformed(line: bytes) -> None:
    with pytest.raises(MalformedFrame, match="header line"):
        parse(b"SEND\n" + line + b"\n\n\0")


# --- commands ------------------------------------------------------------------------


@pytest.mark.parametrize("command", [b"SEND", b"NACK", b"STOMP", b"FROBNICATE"])
def test_any_upper_case_command_is_accepted(command: bytes) -> None:
    assert parse(command + b"\n\n\0")[0].command == command.decode()


@pytest.mark.parametrize(
    "line",
    [b"send", b"SEND ", b" SEND", b"SE ND", b"SEND1", "SÉND".encode(), b"\r\r", b"\t", b"\0"],
)
def test_a_garbage_command_line_is_malformed(line: bytes) -> None:
    with pytest.raises(MalformedFrame, match="command"):
        parse(line + b"\n\n\0")


def test_http_sent_to_the_stomp_port_is_malformed() -> None:
    with pytest.raises(MalformedFrame):
        parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


# --- bodies --------------------------------------------------------------------------


def test_without_content_length_the_body_ends_at_the_first_nul() -> None:
    frames = parse(b"SEND\n\nab\0cd\0")
    assert frames[0].body == b"ab"
    # What follows the NUL starts the next frame: here a bad command line is still waiting.
    parser = FrameParser()
    assert parser.feed(b"SEND\n\nab\0cd") == [Frame("SEND", [], b"ab")]
    assert parser.buffered == 2


def test_content_length_body_may_hold_nul_octets() -> None:
    [frame] = parse(b"SEND\ncontent-length:5\n\n\0a\0b\0\0")
    assert frame.body == b"\0a\0b\0"
    assert frame.get("content-length") == "5"


def test_content_length_zero() -> None:
    assert parse(b"SEND\ncontent-length:0\n\n\0")[0].body == b""


def test_the_first_content_length_wins() -> None:
    [frame] = parse(b"SEND\ncontent-length:3\ncontent-length:10\n\nabc\0")
    assert frame.body == b"abc"


def test_a_body_longer_than_its_content_length_is_malformed() -> None:
    with pytest.raises(MalformedFrame, match="NUL"):
        parse(b"SEND\ncontent-length:3\n\nabcd\0")


def test_the_missing_nul_is_noticed_as_soon_as_its_octet_arrives() -> None:
    parser = FrameParser()
    assert parser.feed(b"SEND\ncontent-length:3\n\nabc") == []
    with pytest.raises(MalformedFrame, match="NUL"):
        parser.feed(b"X")


@pytest.mark.parametrize("value", [b"abc", b"-1", b" 5", b"5 ", b"", b"0x5", "\u0665".encode()])
def test_a_bad_content_length_is_malformed(value: bytes) -> None:
    with pytest.raises(MalformedFrame, match="content-length"):
        parse(b"SEND\ncontent-length:" + value + b"\n\nhello\0")


def test_stompers_disconnect_without_blank_line_is_accepted() -> None:
    # stomper's 1.1 disconnect() writes "DISCONNECT\nreceipt:...\n\x00\n": the NUL where a
    # header line would start. We read it as a frame without a body rather than wait forever.
    frames = parse(b"DISCONNECT\nreceipt:77\n\0\nSEND\n\n\0")
    assert frames == [Frame("DISCONNECT", [("receipt", "77")]), Frame("SEND")]


# --- escaping, decoding side ---------------------------------------------------------


ESCAPED = b"MESSAGE\na\\cb:x\\ny\\\\z\\cw\n\n\0"


def test_stomp_10_has_no_escapes() -> None:
    [frame] = parse(ESCAPED, "1.0")
    assert frame.headers == [("a\\cb", "x\\ny\\\\z\\cw")]
    [frame] = parse(b"SEND\nkey:back\\slash\\\n\n\0", "1.0")
    assert frame.get("key") == "back\\slash\\"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_stomp_11_and_12_unescape_names_and_values(version: str) -> None:
    [frame] = parse(ESCAPED, version)
    assert frame.headers == [("a:b", "x\ny\\z:w")]


def test_stomp_12_unescapes_cr() -> None:
    [frame] = parse(b"SEND\nk:a\\rb\\r\n\n\0", "1.2")
    assert frame.get("k") == "a\rb\r"


@pytest.mark.parametrize(
    ("version", "value"),
    [
        ("1.1", b"a\\rb"),  # \r is a 1.2 escape only
        ("1.1", b"a\\tb"),
        ("1.2", b"a\\tb"),
        ("1.2", b"a\\"),  # a backslash ends the value
        ("1.1", b"a\\"),
        ("1.2", b"\\x"),
    ],
)
def test_an_undefined_escape_is_malformed(version: str, value: bytes) -> None:
    with pytest.raises(MalformedFrame, match="escape"):
        parse(b"SEND\nk:" + value + b"\n\n\0", version)


def test_an_undefined_escape_in_a_name_is_malformed() -> None:
    with pytest.raises(MalformedFrame, match="escape"):
        parse(b"SEND\nk\\t:v\n\n\0", "1.2")


@pytest.mark.parametrize("command", [b"CONNECT", b"STOMP", b"CONNECTED"])
@pytest.mark.parametrize("version", VERSIONS)
def test_connect_frames_are_never_unescaped(command: bytes, version: str) -> None:
    [frame] = parse(command + b"\nlogin:a\\cb\npasscode:x\\ty\\\n\n\0", version)
    assert frame.headers == [("login", "a\\cb"), ("passcode", "x\\ty\\")]


def test_the_version_can_change_between_frames() -> None:
    parser = FrameParser()  # STOMP 1.0 until CONNECT is negotiated
    assert parser.version == "1.0"
    assert parser.feed(b"SEND\nk:a\\cb\n\n\0")[0].get("k") == "a\\cb"
    parser.version = "1.1"
    assert parser.feed(b"SEND\nk:a\\cb\n\n\0")[0].get("k") == "a:b"


@pytest.mark.parametrize(
    ("accept", "version"),
    [(b"1.0,1.1,1.2", "1.2"), (b"1.1", "1.1"), (b"1.0,1.1,2.0", "1.1"), (None, "1.0")],
)
def test_a_connect_frame_sets_the_version_for_the_frames_after_it(
    accept: bytes | None, version: str
) -> None:
    # A client may pipeline frames behind its CONNECT in one read: they must be read with
    # the version the CONNECT negotiates, before the session has had a chance to set it.
    connect = b"STOMP\n" + (b"accept-version:" + accept + b"\n" if accept else b"") + b"\n\0"
    parser = FrameParser()
    frames = parser.feed(connect + b"SEND\nk:a\\cb\n\n\0")
    assert parser.version == version
    assert frames[1].get("k") == ("a\\cb" if version == "1.0" else "a:b")


def test_a_connect_without_a_common_version_leaves_the_version_alone() -> None:
    parser = FrameParser(version="1.1")
    parser.feed(b"CONNECT\naccept-version:2.0\n\n\0")
    assert parser.version == "1.1"


def test_the_negotiation_respects_the_versions_the_server_supports() -> None:
    parser = FrameParser(versions=("1.0", "1.1"))
    parser.feed(b"CONNECT\naccept-version:1.1,1.2\n\n\0")
    assert parser.version == "1.1"


def test_a_client_side_parser_follows_connected() -> None:
    parser = FrameParser()
    parser.feed(b"CONNECTED\nversion:1.2\n\n\0")
    assert parser.version == "1.2"


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="2.0"):
        FrameParser(version="2.0")
    parser = FrameParser()
    with pytest.raises(ValueError):
        parser.version = "1.3"
    with pytest.raises(ValueError):
        Frame("SEND").encode("1.3")


# --- escaping, encoding side ---------------------------------------------------------

TRICKY = Frame("MESSAGE", [("a:b", "x\ny\\z:w\r!")])


def test_encode_escapes_stomp_12() -> None:
    assert TRICKY.encode("1.2") == b"MESSAGE\na\\cb:x\\ny\\\\z\\cw\\r!\n\n\0"


def test_encode_escapes_stomp_11_without_cr() -> None:
    assert TRICKY.encode("1.1") == b"MESSAGE\na\\cb:x\\ny\\\\z\\cw\r!\n\n\0"


def test_encode_writes_stomp_10_raw() -> None:
    frame = Frame("SEND", [("k", "back\\slash:colon\r!")])
    assert frame.encode("1.0") == b"SEND\nk:back\\slash:colon\r!\n\n\0"


@pytest.mark.parametrize("version", VERSIONS)
def test_encode_never_escapes_connect_frames(version: str) -> None:
    frame = Frame("CONNECT", [("login", "a:b\\c")])
    assert frame.encode(version) == b"CONNECT\nlogin:a:b\\c\n\n\0"


@pytest.mark.parametrize("version", VERSIONS)
def test_escaped_headers_round_trip(version: str) -> None:
    frame = Frame("MESSAGE", [("key", "a\\b:c"), ("k:2", "x\ny")] if version != "1.0" else [])
    assert parse(frame.encode(version), version) == [frame]


def test_encode_writes_a_true_content_length() -> None:
    frame = Frame("SEND", [("content-length", "999"), ("destination", "/q")], b"a\0b")
    assert frame.encode() == b"SEND\ndestination:/q\ncontent-length:3\n\na\0b\0"
    assert Frame("SEND", [("content-length", "5")]).encode() == b"SEND\n\n\0"


def test_encode_frame_takes_the_parts_directly() -> None:
    assert encode_frame("ACK", [("id", "1")]) == Frame("ACK", [("id", "1")]).encode()


def test_encode_uses_lf_and_ends_with_nul() -> None:
    data = Frame("SEND", [("a", "1"), ("b", "2")], b"body").encode("1.2")
    assert b"\r" not in data
    assert data.endswith(b"body\0")
    assert data.count(b"\0") == 1


@pytest.mark.parametrize(
    ("frame", "version"),
    [
        (Frame("SEND", [("k", "line\nfeed")]), "1.0"),
        (Frame("SEND", [("a:b", "v")]), "1.0"),
        (Frame("CONNECT", [("login", "line\nfeed")]), "1.2"),
        (Frame("SEND", [("k", "ends in CR\r")]), "1.1"),
        (Frame("SEND", [("k", "ends in CR\r")]), "1.0"),
        (Frame("SEND", [("", "empty name")]), "1.2"),
        (Frame("SEND", [("a", "b"), ("", "empty name")]), "1.0"),
        (Frame("SEND", [("\0k", "NUL in a name")]), "1.2"),
        (Frame("send"), "1.2"),
        (Frame("SE ND"), "1.2"),
        (Frame(""), "1.2"),
    ],
)
def test_encode_refuses_what_the_peer_would_read_differently(frame: Frame, version: str) -> None:
    with pytest.raises(ValueError):
        frame.encode(version)


# --- errors --------------------------------------------------------------------------


def test_errors_carry_a_message_and_a_detail() -> None:
    with pytest.raises(MalformedFrame) as caught:
        parse(b"hello\n\n\0")
    error = caught.value
    assert isinstance(error, StompError)
    assert error.message == "bad command"
    assert "'hello'" in error.detail
    assert StompError("short", "long").message == "short"
    assert StompError("short").detail == ""


def test_after_an_error_the_parser_is_dead() -> None:
    parser = FrameParser()
    with pytest.raises(MalformedFrame) as first:
        parser.feed(b"nope\n\n\0")
    with pytest.raises(MalformedFrame) as again:
        parser.feed(b"SEND\n\n\0")
    assert again.value is first.value


def test_the_error_carries_the_frames_before_it() -> None:
    with pytest.raises(MalformedFrame) as caught:
        parse(b"SEND\n\none\0SEND\n\ntwo\0bad\n\n\0SEND\n\nthree\0")
    assert [f.body for f in caught.value.frames] == [b"one", b"two"]


# --- bounds --------------------------------------------------------------------------


def test_default_bounds() -> None:
    parser = FrameParser()
    assert (parser.max_frame_size, parser.max_headers, parser.max_header_length) == (
        (1 << 20) + (64 << 10),
        1000,
        8192,
    )


def test_a_frame_at_the_size_bound_passes_and_one_byte_more_fails() -> None:
    head = b"SEND\n\n"
    fits = head + b"x" * (100 - len(head))
    assert parse(fits + b"\0", max_frame_size=100)[0].body == fits[len(head) :]
    with pytest.raises(FrameTooLarge):
        parse(fits + b"x\0", max_frame_size=100)


def test_frame_too_large_names_the_bound_and_its_value() -> None:
    with pytest.raises(FrameTooLarge) as caught:
        parse(b"SEND\ncontent-length:5000\n\n", max_frame_size=4096)
    error = caught.value
    assert isinstance(error, LimitExceeded)
    assert "max_frame_size" in error.message
    assert "4096" in error.message
    assert (error.bound, error.limit) == ("max_frame_size", 4096)


def test_an_announced_content_length_past_the_bound_fails_before_the_body() -> None:
    parser = FrameParser(max_frame_size=1 << 20)
    with pytest.raises(FrameTooLarge):
        parser.feed(b"SEND\ncontent-length:10000000\n\n" + b"x" * 10)


def test_a_stream_without_nul_fails_once_past_the_bound() -> None:
    # Ten megabytes of body and never a NUL: the error comes as soon as the buffered
    # bytes pass max_frame_size, and the buffer never holds more than that plus one read.
    bound, read = 1 << 20, 65536
    parser = FrameParser(max_frame_size=bound)
    parser.feed(b"SEND\ndestination:/q\n\n")
    fed = 0
    with pytest.raises(FrameTooLarge):
        while fed < 10 << 20:
            fed += read
            parser.feed(b"x" * read)
            assert parser.buffered <= bound + read
    assert bound - read < fed <= bound + read


def test_a_head_that_never_ends_fails_once_past_the_bound() -> None:
    parser = FrameParser(max_frame_size=10_000, max_headers=10_000)
    with pytest.raises(FrameTooLarge):
        for _ in range(10_000):
            parser.feed(b"SEND\n" if parser.buffered == 0 else b"k:v\n")
            assert parser.buffered <= 10_004


@pytest.mark.parametrize("split", [False, True])
def test_too_many_headers(split: bool) -> None:
    def frame(count: int) -> bytes:
        return b"SEND\n" + b"".join(b"h%d:v\n" % i for i in range(count)) + b"\n\0"

    feed = parse_bytewise if split else parse
    assert len(feed(frame(5), max_headers=5)[0].headers) == 5
    with pytest.raises(TooManyHeaders) as caught:
        feed(frame(6), max_headers=5)
    assert "max_headers" in caught.value.message and "5" in caught.value.message
    assert caught.value.limit == 5


def test_too_many_headers_fails_before_the_head_ends() -> None:
    parser = FrameParser(max_headers=3)
    with pytest.raises(TooManyHeaders):
        parser.feed(b"SEND\n" + b"k:v\n" * 4)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_header_too_long(split: bool, eol: bytes) -> None:
    def frame(value_length: int) -> bytes:
        return b"SEND" + eol + b"k:" + b"v" * value_length + eol + eol + b"\0"

    feed = parse_bytewise if split else parse
    assert feed(frame(98), max_header_length=100)[0].get("k") == "v" * 98  # k: + 98 = 100
    with pytest.raises(HeaderTooLong) as caught:
        feed(frame(99), max_header_length=100)
    error = caught.value
    assert "max_header_length" in error.message and "100" in error.message
    assert (error.bound, error.limit) == ("max_header_length", 100)


def test_a_long_header_line_fails_without_waiting_for_its_end() -> None:
    parser = FrameParser(max_header_length=8192)
    parser.feed(b"SEND\nk:")
    with pytest.raises(HeaderTooLong):
        for _ in range(1000):
            parser.feed(b"v" * 1000)
            assert parser.buffered <= 8192 + 1000 + 10


def test_a_long_line_completed_mid_head_fails_before_the_head_ends() -> None:
    parser = FrameParser(max_header_length=100)
    parser.feed(b"SEND\nk:" + b"v" * 90)
    with pytest.raises(HeaderTooLong):
        parser.feed(b"v" * 90 + b"\nnext:")


def test_a_long_command_line_fails() -> None:
    with pytest.raises(HeaderTooLong):
        FrameParser(max_header_length=100).feed(b"A" * 200)


def test_the_header_length_bound_counts_bytes_not_characters() -> None:
    value = "é" * 60  # 120 bytes in UTF-8
    data = Frame("SEND", [("k", value)]).encode()
    with pytest.raises(HeaderTooLong):
        parse(data, max_header_length=100)
    assert parse(data, max_header_length=200)[0].get("k") == value


def test_encode_frame_accepts_any_iterable_of_headers() -> None:
    pairs = [("k:1", "v\n"), ("a", "b")]
    assert encode_frame("SEND", iter(pairs)) == encode_frame("SEND", pairs)
    assert encode_frame("SEND", iter(pairs)) == b"SEND\nk\\c1:v\\n\na:b\n\n\0"


def test_bounds_hold_for_a_head_that_follows_a_big_frame_in_the_same_read() -> None:
    # The parser drops consumed bytes between reads; what it tracks of an unfinished head
    # must move with them.
    big = Frame("SEND", [], b"x" * 5000).encode()
    parser = FrameParser(max_header_length=100)
    assert len(parser.feed(big + b"SEND\nk:")) == 1
    with pytest.raises(HeaderTooLong):
        parser.feed(b"v" * 150)
    parser = FrameParser(max_header_length=100)
    parser.feed(big + b"SEND\nk:")
    with pytest.raises(HeaderTooLong):
        parser.feed(b"v" * 150 + b"\nnext:")


def test_a_head_trickling_in_after_a_big_frame_is_read_correctly() -> None:
    big = Frame("SEND", [], b"x" * 5000).encode()
    parser = FrameParser(max_header_length=100, max_headers=64)
    assert len(parser.feed(big + b"SEND\n")) == 1
    # Short lines, many in one read and then one per read: 400 bytes, no line near the bound.
    assert parser.feed(b"".join(b"h%02d:value\n" % i for i in range(20))) == []
    for i in range(20, 40):
        assert parser.feed(b"h%02d:value\n" % i) == []
    [frame] = parser.feed(b"\n\0")
    assert len(frame.headers) == 40
