"""The relay's frame scanner and the two websocket handshakes (RFC 6455), without I/O."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from jupyter_server_proxy.core.errors import UpstreamUnavailable
from jupyter_server_proxy.core.wsframes import (
    CLOSE,
    PING,
    FrameScanner,
    accept_key,
    close_frame,
    control_frame,
    valid_key,
)
from jupyter_server_proxy.core.wshandshake import (
    MAX_HEAD,
    MAX_INTERIM,
    AnswerReader,
    accept_headers,
    backend_request,
    client_problem,
    client_protocols,
    parse_backend_answer,
    same_origin,
)
from tests.wsframes import ws_frame_head


def frame(opcode: int, payload: bytes, *, masked: bool, final: bool = True, rsv: int = 0) -> bytes:
    head = ws_frame_head((0x80 if final else 0) | rsv | opcode, len(payload), masked=masked)
    key = b"\x01\x02\x03\x04" if masked else b""
    return head + key + payload  # payload bytes are not inspected, so no need to mask them


def client(limit: int = 1 << 20) -> FrameScanner:
    return FrameScanner(from_client=True, max_message_size=limit)


def server(limit: int = 1 << 20) -> FrameScanner:
    return FrameScanner(from_client=False, max_message_size=limit)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_every_length_encoding_passes_whole(size: int) -> None:
    data = frame(0x2, b"x" * size, masked=True)
    scanner = client()
    assert scanner.feed(data) == (data, None)
    assert scanner.at_boundary


def test_bytes_fed_one_at_a_time_come_out_whole_with_headers_held_back() -> None:
    stream = b"".join(
        [
            frame(0x1, b"hello", masked=True),
            frame(0x2, b"y" * 300, masked=True, final=False),
            frame(PING, b"p", masked=True),
            frame(0x0, b"z" * 70_000, masked=True),
        ]
    )
    scanner = client()
    out = bytearray()
    for i in range(len(stream)):
        forwarded, refusal = scanner.feed(stream[i : i + 1])
        assert refusal is None
        out += forwarded
        # A header is never forwarded in part: after each feed we are inside a payload or
        # exactly at a boundary.
    assert bytes(out) == stream
    assert scanner.at_boundary


def test_boundary_is_false_inside_a_payload() -> None:
    data = frame(0x2, b"q" * 1000, masked=False)
    scanner = server()
    forwarded, _ = scanner.feed(data[:500])
    assert forwarded == data[:500] and not scanner.at_boundary
    forwarded, _ = scanner.feed(data[500:])
    assert forwarded == data[500:] and scanner.at_boundary


def test_payload_that_passed_elsewhere_is_counted_and_the_next_header_read() -> None:
    """The relay splices long payloads past the scanner; it is told how many bytes went by."""
    first, second = frame(0x2, b"s" * 5000, masked=True), frame(0x1, b"next", masked=True)
    scanner = client()
    forwarded, _ = scanner.feed(first[:1000])
    assert forwarded == first[:1000]
    left = scanner.payload_left
    assert left == len(first) - 1000
    with pytest.raises(ValueError, match="cannot pass"):
        scanner.passed(left + 1)
    scanner.passed(left - 10)
    assert not scanner.at_boundary
    scanner.passed(10)
    assert scanner.at_boundary and scanner.payload_left == 0
    assert scanner.feed(second) == (second, None)
    with pytest.raises(ValueError, match="cannot pass"):
        scanner.passed(1)  # at a boundary: the next bytes are a header, which must be fed


@pytest.mark.parametrize(
    ("scanner", "bad", "code", "words"),
    [
        (client, frame(0x1, b"a", masked=False), 1002, "masked"),
        (server, frame(0x1, b"a", masked=True), 1002, "masked"),
        (client, frame(0x1, b"a", masked=True, rsv=0x40), 1002, "reserved bits"),
        (client, frame(0x3, b"a", masked=True), 1002, "opcode"),
        (client, frame(0xB, b"a", masked=True), 1002, "opcode"),
        (client, frame(PING, b"a", masked=True, final=False), 1002, "control"),
        (client, frame(PING, b"a" * 126, masked=True), 1002, "control"),
        (client, frame(0x0, b"a", masked=True), 1002, "continuation"),
        (client, b"\x82\xff" + (1 << 63).to_bytes(8, "big") + b"kkkk", 1002, "length"),
    ],
)
def test_rule_breaking_frames_are_refused_after_the_good_ones(
    scanner: Callable[[], FrameScanner], bad: bytes, code: int, words: str
) -> None:
    s = scanner()
    good = frame(0x1, b"ok", masked=scanner is client)
    forwarded, refusal = s.feed(good + bad)
    assert forwarded == good
    assert refusal is not None and refusal.code == code and words in refusal.reason


def test_new_message_inside_a_fragmented_one_is_refused() -> None:
    s = client()
    _, refusal = s.feed(frame(0x1, b"a", masked=True, final=False))
    assert refusal is None
    _, refusal = s.feed(frame(PING, b"", masked=True))  # control frames may interleave
    assert refusal is None
    _, refusal = s.feed(frame(0x2, b"b", masked=True))
    assert refusal is not None and refusal.code == 1002


def test_message_limit_counts_fragments_and_is_checked_before_forwarding() -> None:
    s = client(limit=100)
    first = frame(0x2, b"a" * 60, masked=True, final=False)
    second = frame(0x0, b"a" * 60, masked=True)
    forwarded, refusal = s.feed(first + second)
    assert forwarded == first
    assert refusal is not None and refusal.code == 1009 and "100" in refusal.reason
    fresh = client(limit=100)
    exact = frame(0x2, b"a" * 100, masked=True)
    assert fresh.feed(exact) == (exact, None)


def test_close_frame_is_noticed() -> None:
    s = server()
    assert not s.close_seen
    s.feed(frame(CLOSE, b"\x03\xe8", masked=False))
    assert s.close_seen


def test_frames_of_ours_pass_the_scanner_of_their_direction() -> None:
    masked = control_frame(PING, b"abc", masked=True)
    assert client().feed(masked) == (masked, None)
    key, body = masked[2:6], masked[6:]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(body)) == b"abc"
    plain = close_frame(1001, "bye", masked=False)
    assert server().feed(plain) == (plain, None)
    assert plain[2:] == b"\x03\xe9bye"


def test_close_reason_is_cut_at_a_character_boundary() -> None:
    data = close_frame(1000, "é" * 100, masked=False)
    assert len(data) - 2 <= 125
    data[4:].decode()  # still valid UTF-8


def test_control_frame_refuses_what_the_rfc_forbids() -> None:
    with pytest.raises(ValueError):
        control_frame(0x1, b"", masked=False)
    with pytest.raises(ValueError):
        control_frame(PING, b"x" * 126, masked=False)


def test_accept_key_is_the_rfc_example() -> None:
    # RFC 6455 §1.3
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_key_validity() -> None:
    assert valid_key("dGhlIHNhbXBsZSBub25jZQ==")
    assert not valid_key("")
    assert not valid_key("c2hvcnQ=")  # 5 bytes, not 16
    assert not valid_key("not base64!")


GOOD = [
    ("Host", "h"),
    ("Connection", "keep-alive, Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
]


def replace(name: str, value: str | None) -> list[tuple[str, str]]:
    out = [(n, v) for n, v in GOOD if n != name]
    return out + ([(name, value)] if value is not None else [])


def test_client_handshake_checks() -> None:
    assert client_problem(GOOD) is None
    assert client_problem(replace("Connection", "keep-alive")) == (
        400,
        '"Connection" must name "Upgrade" in a websocket request',
    )
    problem = client_problem(replace("Sec-WebSocket-Version", "12"))
    assert problem is not None and problem[0] == 426
    problem = client_problem(replace("Sec-WebSocket-Key", None))
    assert problem is not None and problem[0] == 400


def test_client_protocols_from_repeated_fields() -> None:
    headers = [("Sec-WebSocket-Protocol", "bokeh, tok"), ("sec-websocket-protocol", "x")]
    assert client_protocols(headers) == ["bokeh", "tok", "x"]


def test_accept_headers_carry_the_backends_choice_and_extras() -> None:
    out = accept_headers("dGhlIHNhbXBsZSBub25jZQ==", "bokeh", [("Set-Cookie", "a=1")])
    assert ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") in out
    assert ("Sec-WebSocket-Protocol", "bokeh") in out and out[-1] == ("Set-Cookie", "a=1")


def test_backend_request_adds_the_handshake_and_a_host() -> None:
    raw = backend_request("/ws?a=%2F", [("X-A", "1")], "k", ["p1", "p2"], "127.0.0.1:9")
    text = raw.decode()
    assert text.startswith("GET /ws?a=%2F HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-A: 1\r\n")
    assert "Sec-WebSocket-Protocol: p1, p2\r\n" in text and text.endswith("\r\n\r\n")


def test_backend_request_refuses_injection() -> None:
    with pytest.raises(ValueError):
        backend_request("/", [("X-A", "1\r\nEvil: 1")], "k", [], "h")


def answer(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
OK = (
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
)


def test_backend_answer_accepted_with_extras_passed_on() -> None:
    got = parse_backend_answer(
        answer(*OK, "Sec-WebSocket-Protocol: p2", "Set-Cookie: s=1", "Server: x"),
        KEY,
        ["p1", "p2"],
        "here",
    )
    assert got.subprotocol == "p2" and got.headers == [("Set-Cookie", "s=1")]


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (("HTTP/1.1 403 Forbidden",), "HTTP 403"),
        (("garbage",), "no HTTP response"),
        ((*OK[:3], "Sec-WebSocket-Accept: wrong"), "Sec-WebSocket-Accept"),
        ((OK[0], OK[2], OK[3]), "Upgrade"),
        ((*OK, "Sec-WebSocket-Extensions: permessage-deflate"), "extension"),
        ((*OK, "Sec-WebSocket-Protocol: other"), "subprotocol"),
        ((*OK, " folded"), "malformed"),
        ((*OK, "X-App: a\x01b"), "malformed header in its 101: 'X-App'"),
        ((*OK, "X-App: a\x7fb"), "malformed header in its 101: 'X-App'"),
        ((*OK, "X-App: a\nb"), "malformed header in its 101: 'X-App'"),
        ((*OK, "X App: 1"), "malformed header name in its 101: 'X App'"),
        ((*OK, "X-App\n: 1"), "malformed header name in its 101: 'X-App\\n'"),
        ((*OK, "no colon"), "malformed header line in its 101: 'no colon'"),
        (("HTTP/1.1 1\u00b901 Switching Protocols", *OK[1:]), "no HTTP response"),
        (("HTTP/1.1 10 Short", *OK[1:]), "no HTTP response"),
    ],
)
def test_bad_backend_answers_name_the_problem(lines: tuple[str, ...], words: str) -> None:
    with pytest.raises(UpstreamUnavailable) as e:
        parse_backend_answer(answer(*lines), KEY, ["p1"], "127.0.0.1:9")
    assert words in e.value.message and "127.0.0.1:9" in e.value.message


def test_random_garbage_never_crashes_the_scanner() -> None:
    for _ in range(200):
        s = client(limit=1000)
        data = os.urandom(64)
        forwarded, refusal = s.feed(data)
        assert data.startswith(forwarded)


def test_backend_answer_keeps_tabs_and_high_bytes_in_values() -> None:
    """RFC 9110 §5.5: HTAB, visible characters and obs-text are a field value's own."""
    got = parse_backend_answer(answer(*OK) + b"\r\nX-A: a\tb \xe9", KEY, [], "here")
    assert got.headers == [("X-A", "a\tb \xe9")]


FINAL = answer(*OK) + b"\r\n\r\n"


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        b"HTTP/1.1 199\r\n\r\n",
    ],
)
def test_interim_responses_before_the_101_are_skipped(interim: bytes) -> None:
    """RFC 9110 §15.2: a client skips the 1xx it does not expect; the final head is the answer
    and what follows it (frames sent with the 101) is kept."""
    reader = AnswerReader("here")
    got = reader.feed(interim + FINAL + b"\x81\x02hi")
    assert got == (answer(*OK), b"\x81\x02hi")
    parse_backend_answer(got[0], KEY, [], "here")


def test_answer_read_one_byte_at_a_time() -> None:
    stream = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + FINAL + b"rest"
    reader = AnswerReader("here")
    results = [reader.feed(stream[i : i + 1]) for i in range(len(stream) - 4)]
    assert results[:-1] == [None] * (len(results) - 1)
    assert results[-1] == (answer(*OK), b"")


def test_a_final_refusal_after_an_interim_is_the_answer() -> None:
    reader = AnswerReader("here")
    head, _ = reader.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 No\r\n\r\n") or (b"", b"")
    with pytest.raises(UpstreamUnavailable, match="HTTP 403"):
        parse_backend_answer(head, KEY, [], "here")


def test_endless_interim_responses_are_refused() -> None:
    reader = AnswerReader("127.0.0.1:9")
    with pytest.raises(UpstreamUnavailable) as e:
        reader.feed(b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INTERIM + 1))
    assert "interim (1xx)" in e.value.message and "127.0.0.1:9" in e.value.message


@pytest.mark.parametrize("complete", [False, True])
def test_a_head_over_the_limit_is_refused(complete: bool) -> None:
    reader = AnswerReader("here")
    data = b"HTTP/1.1 101 OK\r\nX: " + b"a" * MAX_HEAD + (b"\r\n\r\n" if complete else b"")
    with pytest.raises(UpstreamUnavailable, match=f"over {MAX_HEAD} bytes"):
        reader.feed(data)


@pytest.mark.parametrize(
    ("origin", "host", "site", "same"),
    [
        ("http://127.0.0.1:8888", "127.0.0.1:8888", "same-origin", True),
        ("http://127.0.0.1:8888", "127.0.0.1:8888", None, True),
        ("https://Hub.Example.org", "hub.example.org", None, True),
        ("http://evil.example", "127.0.0.1:8888", "same-origin", True),  # the browser's word
        ("http://evil.example", "127.0.0.1:8888", "none", True),
        ("http://evil.example", "127.0.0.1:8888", None, False),
        ("http://evil.example", "127.0.0.1:8888", "cross-site", False),
        ("http://127.0.0.1:8888", "127.0.0.1:8888", "cross-site", False),
        ("http://127.0.0.1:8888", "127.0.0.1:8888", "same-site", False),
        ("http://127.0.0.1:9999", "127.0.0.1:8888", None, False),
        ("null", "127.0.0.1:8888", None, False),
        ("", "", None, False),
        ("http://[::1", "[::1]:8888", None, False),
    ],
)
def test_same_origin_is_tornado_66s_rule(
    origin: str, host: str, site: str | None, same: bool
) -> None:
    """Fetch Metadata's ``Sec-Fetch-Site`` decides when present; without it, the Origin's
    authority must equal Host (case aside)."""
    assert same_origin(origin, host, site) is same
