"""Property tests of the frame codec: round trips, any chunking, and garbage never crashes it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comet_core.stomp import RAW_COMMANDS, VERSIONS, Frame, FrameParser, StompError

# Few examples each, so that the file runs in a few seconds; CI runs it on every push.
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that STOMP treats specially are drawn often; any other character sometimes.
SPECIAL = st.sampled_from([":", "\n", "\r", "\\", " ", "\0", "c", "n", "r", "é", "日"])
names = st.text(st.one_of(SPECIAL, st.characters(codec="utf-8")), min_size=1, max_size=12).filter(
    lambda name: "\0" not in name
)
values = st.text(st.one_of(SPECIAL, st.characters(codec="utf-8")), max_size=16)
commands = st.one_of(
    st.sampled_from(["SEND", "MESSAGE", "CONNECT", "STOMP", "CONNECTED", "ACK", "ERROR"]),
    st.from_regex(r"[A-Z]{1,10}", fullmatch=True),
)
bodies = st.one_of(st.just(b""), st.binary(max_size=64), st.sampled_from([b"\0", b"\n\0\r\n"]))
versions = st.sampled_from(VERSIONS)


def writable(frame: Frame, version: str) -> bool:
    """Whether `version` can carry the frame's headers unchanged (else encode refuses)."""
    raw = version == "1.0" or frame.command in RAW_COMMANDS
    for name, value in frame.headers:
        if "\0" in value:  # a NUL ends a frame; no version can escape it
            return False
        if raw and (":" in name or "\n" in name or "\n" in value):
            return False
        if (raw or version == "1.1") and value.endswith("\r"):
            return False
    return True


def make_writable(frame: Frame, version: str) -> Frame:
    """The frame with whatever `version` cannot carry replaced."""
    raw = version == "1.0" or frame.command in RAW_COMMANDS
    headers = []
    for name, value in frame.headers:
        value = value.replace("\0", "_")
        if raw:
            name = name.replace(":", "_").replace("\n", "_")
            value = value.replace("\n", "_")
        if (raw or version == "1.1") and value.endswith("\r"):
            value += "_"
        headers.append((name, value))
    return Frame(frame.command, headers, frame.body)


def as_received(frame: Frame) -> Frame:
    """What a parser reads back: encode replaces content-length with the true one."""
    headers = [(n, v) for n, v in frame.headers if n != "content-length"]
    if frame.body:
        headers.append(("content-length", str(len(frame.body))))
    return Frame(frame.command, headers, frame.body)


frames = st.builds(Frame, commands, st.lists(st.tuples(names, values), max_size=6), bodies)


def parser_for(version: str) -> FrameParser:
    # Pinning the supported versions to one keeps a random CONNECT from renegotiating.
    return FrameParser(version=version, versions=(version,))


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def feed_all(parser: FrameParser, pieces: list[bytes]) -> tuple[list[Frame], StompError | None]:
    out: list[Frame] = []
    for piece in pieces:
        try:
            out += parser.feed(piece)
        except StompError as error:
            return out + error.frames, error
    return out, None


@FAST
@given(frames, versions)
def test_a_frame_round_trips_or_encode_refuses_it(frame: Frame, version: str) -> None:
    if writable(frame, version):
        assert parser_for(version).feed(frame.encode(version)) == [as_received(frame)]
    else:
        try:
            frame.encode(version)
        except ValueError:
            return
        raise AssertionError("encode wrote a header the peer would read differently")


@FAST
@given(frames, versions, st.lists(st.integers(min_value=0), max_size=12))
def test_a_writable_frame_round_trips_in_any_chunking(
    frame: Frame, version: str, cuts: list[int]
) -> None:
    frame = make_writable(frame, version)
    data = frame.encode(version)
    parser = parser_for(version)
    got, error = feed_all(parser, chunked(data, cuts))
    assert error is None
    assert got == [as_received(frame)]
    assert parser.buffered == 0


@FAST
@given(
    st.lists(frames, max_size=6),
    versions,
    st.lists(st.sampled_from([b"", b"", b"\n", b"\r\n", b"\n\n\r\n"]), min_size=7, max_size=7),
    st.lists(st.integers(min_value=0), max_size=20),
)
def test_concatenated_frames_with_heart_beats_in_any_chunking(
    many: list[Frame], version: str, beats: list[bytes], cuts: list[int]
) -> None:
    many = [make_writable(frame, version) for frame in many]
    tails = zip(many, beats[1:], strict=False)
    data = beats[0] + b"".join(frame.encode(version) + beat for frame, beat in tails)
    got, error = feed_all(parser_for(version), chunked(data, cuts))
    assert error is None
    assert got == [as_received(frame) for frame in many]


# Garbage: random bytes, and random runs of the pieces frames are made of, which reach
# deeper into the parser than uniform noise does.
PIECES = [b"SEND", b"CONNECT", b"x", b"\n", b"\r", b"\r\n", b":", b"\\", b"\\c", b"\\r",
          b"\0", b"content-length:", b"3", b"99", b"\xff", b"\xc3\xa9", b"k:v\n", b" "]  # fmt: skip
garbage = st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join),
    st.tuples(frames, st.binary(max_size=8), st.integers(min_value=0)).map(
        lambda t: _splice(t[0].encode("1.0") if writable(t[0], "1.0") else b"", t[1], t[2])
    ),
)


def _splice(data: bytes, noise: bytes, at: int) -> bytes:
    at %= len(data) + 1
    return data[:at] + noise + data[at + len(noise) // 2 :]


@settings(FAST, max_examples=400)
@given(garbage, versions, st.lists(st.integers(min_value=0), max_size=12))
def test_garbage_gives_frames_or_a_stomp_error_in_any_chunking(
    data: bytes, version: str, cuts: list[int]
) -> None:
    bounds = {"max_frame_size": 150, "max_headers": 4, "max_header_length": 40}
    whole, whole_error = feed_all(FrameParser(version=version, **bounds), [data])
    parser = FrameParser(version=version, **bounds)
    pieces, pieces_error = feed_all(parser, chunked(data, cuts))
    # Only StompError escapes (anything else fails the test), and the chunking changes
    # nothing: the same frames, and an error in both cases or in neither. (Which error
    # can differ when a frame breaks several rules and a split shows one of them first.)
    assert pieces == whole
    assert (pieces_error is None) == (whole_error is None)
    if pieces_error is None:
        assert parser.buffered <= 150 + 1
    else:
        try:
            parser.feed(b"SEND\n\n\0")
        except StompError as again:
            assert again is pieces_error
        else:
            raise AssertionError("a dead parser accepted more input")
