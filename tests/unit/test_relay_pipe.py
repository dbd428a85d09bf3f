"""The websocket relay's pipe (``pipe.WebSocketPipe``) between two fake sides, with time in the
test's hands: bytes pass unchanged and in order, each way of ending closes both sides once with
the right close frame (and never one inside a frame), a full side pauses its peer, a silent
client is pinged and then let go, and a frame that breaks the rules ends the websocket with
1002 or 1009 and the reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from jupyter_server_proxy.core.wsframes import (
    BINARY,
    CLOSE,
    GOING_AWAY,
    INTERNAL_ERROR,
    NORMAL,
    PING,
    PONG,
    PROTOCOL_ERROR,
    TEXT,
    TOO_BIG,
    FrameScanner,
    close_frame,
    control_frame,
)
from jupyter_server_proxy.relay.pipe import PipeSettings, WebSocketPipe
from jupyter_server_proxy.relay.thread import Timer
from tests.unit.test_core_websocket import frame

# -- fakes -------------------------------------------------------------------------------------


class FakeLoop:
    """The ``socketside.Loop`` a pipe runs on; its clock moves only by ``advance``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Timer]] = []

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        timer = Timer(callback)
        self.timers.append((self.now + delay, timer))
        return timer

    def call_soon(self, callback: Callable[[], object]) -> Timer:
        return self.call_later(0.0, callback)

    def add_reader(self, fd: int, callback: Callable[[], object]) -> None:
        raise AssertionError("the pipe registers no descriptor: that is its sides' business")

    add_writer = add_reader

    def remove_reader(self, fd: int) -> None:
        raise AssertionError("the pipe registers no descriptor: that is its sides' business")

    remove_writer = remove_reader

    @property
    def pending(self) -> list[tuple[float, Timer]]:
        return [(when, t) for when, t in self.timers if not t.cancelled]

    def advance(self, seconds: float) -> None:
        """Run, in time order, every call due up to ``seconds`` from now."""
        end = self.now + seconds
        for _ in range(10_000):  # bounded: a pipe schedules one timer per tick
            due = [entry for entry in self.pending if entry[0] <= end]
            if not due:
                break
            entry = min(due, key=lambda e: e[0])
            self.timers.remove(entry)
            self.now = entry[0]
            entry[1].callback()
        else:
            raise AssertionError("timers keep coming due")
        self.now = end


class FakeSide:
    """A ``pipe.Side`` that records what the pipe does to it."""

    def __init__(self, *, client: bool, limit: int = 1 << 20, early: bytes = b"") -> None:
        self.scanner = FrameScanner(from_client=client, max_message_size=limit)
        self.masked = not client  # what we write to the backend goes to a server: masked
        self.early = early
        self.written = bytearray()
        self.flow: list[str] = []  # "pause" / "resume", in order
        self.closes = 0

    def attach(self, pipe: WebSocketPipe) -> None:
        if self.early:
            pipe.received(self, self.early)

    def write(self, data: bytes) -> None:
        assert not self.closes, "nothing is written to a side after it was closed"
        self.written += data

    def pause_reading(self) -> None:
        self.flow.append("pause")

    def resume_reading(self) -> None:
        self.flow.append("resume")

    def close(self) -> None:
        self.closes += 1

    def frames(self) -> list[tuple[int, bytes]]:
        """What was written, as (opcode, unmasked payload) frames; they must end whole."""
        data, pos, out = bytes(self.written), 0, []
        while pos < len(data):
            first, second = data[pos], data[pos + 1]
            n, pos = second & 0x7F, pos + 2
            if n in (126, 127):
                size = 2 if n == 126 else 8
                n, pos = int.from_bytes(data[pos : pos + size], "big"), pos + size
            key = b""
            if second & 0x80:
                key, pos = data[pos : pos + 4], pos + 4
            payload = data[pos : pos + n]
            assert len(payload) == n, "the bytes written end inside a frame"
            if key and first & 0x0F >= CLOSE:  # ours, masked for real (test frames are not)
                payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            out.append((first & 0x0F, payload))
            pos += n
        return out

    def close_sent(self) -> tuple[int, str] | None:
        """The close frame written to this side, if any: (code, reason)."""
        closes = [p for op, p in self.frames() if op == CLOSE]
        assert len(closes) <= 1, "at most one close frame goes each way"
        if not closes:
            return None
        return int.from_bytes(closes[0][:2], "big"), closes[0][2:].decode()


@dataclass
class Relay:
    pipe: WebSocketPipe
    client: FakeSide
    backend: FakeSide
    loop: FakeLoop
    activity: list[None] = field(default_factory=list)
    done: list[WebSocketPipe] = field(default_factory=list)

    def from_client(self, data: bytes) -> None:
        self.pipe.received(self.client, data)

    def from_backend(self, data: bytes) -> None:
        self.pipe.received(self.backend, data)

    def assert_over(self) -> None:
        """Both sides closed exactly once, the pipe's end reported once, no timer left."""
        assert (self.client.closes, self.backend.closes) == (1, 1)
        assert self.done == [self.pipe] and self.pipe.done
        assert not self.loop.pending


def relay(
    *,
    ping_interval: float = 0.0,
    ping_timeout: float = 3.0,
    limit: int = 1 << 20,
    early: bytes = b"",
) -> Relay:
    settings = PipeSettings(
        connect_timeout=1.0,
        read_timeout=1.0,
        max_message_size=limit,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        loopback_congestion_control="reno",
    )
    client = FakeSide(client=True, limit=limit, early=early)
    backend = FakeSide(client=False, limit=limit)
    loop = FakeLoop()
    activity: list[None] = []
    done: list[WebSocketPipe] = []
    pipe = WebSocketPipe(
        client,
        backend,
        settings,
        loop,
        on_activity=lambda: activity.append(None),
        on_done=done.append,
    )
    pipe.start()
    return Relay(pipe, client, backend, loop, activity, done)


def masked(opcode: int, payload: bytes, final: bool = True) -> bytes:
    return frame(opcode, payload, masked=True, final=final)


def plain(opcode: int, payload: bytes, final: bool = True) -> bytes:
    return frame(opcode, payload, masked=False, final=final)


# -- messages ----------------------------------------------------------------------------------


def test_frames_pass_unchanged_and_in_order_each_way() -> None:
    """Each side's frames reach the other byte for byte, in the order they came, however the
    two directions interleave; every read counts as activity."""
    r = relay()
    to_backend = [masked(TEXT, b"one"), masked(BINARY, b"\x00" * 300), masked(TEXT, b"three")]
    to_client = [plain(TEXT, b"a"), plain(BINARY, b"b" * 70_000), plain(TEXT, b"c")]
    for up, down in zip(to_backend, to_client, strict=True):
        r.from_client(up)
        r.from_backend(down)
    assert bytes(r.backend.written) == b"".join(to_backend)
    assert bytes(r.client.written) == b"".join(to_client)
    assert len(r.activity) == 6
    assert not r.done


def test_frames_cut_anywhere_come_out_whole_and_in_order() -> None:
    """Reads cut frames at any byte, headers included: the peer still gets the same bytes in
    the same order, and a header is never passed on before it is whole."""
    r = relay()
    stream = masked(TEXT, b"hello") + masked(BINARY, b"x" * 200, final=False)
    stream += masked(PING, b"p") + masked(0x0, b"y" * 5)  # a ping between two fragments
    for i in range(len(stream)):
        r.from_client(stream[i : i + 1])
        assert stream.startswith(bytes(r.backend.written))
    assert bytes(r.backend.written) == stream
    assert [op for op, _ in r.backend.frames()] == [TEXT, BINARY, PING, 0x0]


def test_frames_sent_before_the_relay_started_go_first() -> None:
    """What the client sent with its handshake (read before ``start``) is relayed first."""
    r = relay(early=masked(TEXT, b"early"))
    r.from_client(masked(TEXT, b"later"))
    assert r.backend.frames() == [(TEXT, b"early"), (TEXT, b"later")]


# -- ends --------------------------------------------------------------------------------------


def test_client_closing_first_is_relayed_and_nothing_added() -> None:
    """The client's close frame goes to the backend as it was; when the client's connection
    then ends, the backend gets no second close frame, and both connections close."""
    r = relay()
    r.from_client(close_frame(NORMAL, "bye", masked=True))
    r.from_backend(close_frame(NORMAL, "bye too", masked=False))
    r.pipe.ended(r.client)
    assert r.backend.close_sent() == (NORMAL, "bye")
    assert r.client.close_sent() == (NORMAL, "bye too")
    r.assert_over()


def test_backend_closing_first_is_relayed_and_nothing_added() -> None:
    r = relay()
    r.from_backend(close_frame(NORMAL, "done", masked=False))
    r.pipe.ended(r.backend)
    assert r.client.close_sent() == (NORMAL, "done")
    assert r.backend.close_sent() is None
    r.assert_over()


def test_client_vanishing_closes_the_backend_with_1001() -> None:
    """A client gone without a close frame: the backend hears 1001 and why (RFC 6455 §7.4.1)."""
    r = relay()
    r.from_client(masked(TEXT, b"last words"))
    r.pipe.ended(r.client)
    assert r.backend.frames() == [(TEXT, b"last words"), (CLOSE, b"\x03\xe9client went away")]
    assert r.client.written == b""
    r.assert_over()


def test_backend_vanishing_closes_the_client_with_1011() -> None:
    r = relay()
    r.pipe.ended(r.backend)
    assert r.client.close_sent() == (INTERNAL_ERROR, "backend connection lost")
    assert r.backend.written == b""
    r.assert_over()


def test_both_ending_at_once_closes_each_once() -> None:
    """Both connections gone in one turn: the second report finds the pipe over and changes
    nothing (one close frame, one close per side, one end reported)."""
    r = relay()
    r.pipe.ended(r.client)
    r.pipe.ended(r.backend)
    assert r.backend.close_sent() == (GOING_AWAY, "client went away")
    assert r.client.written == b""
    r.assert_over()
    r.from_backend(plain(TEXT, b"too late"))  # a read already under way: dropped
    assert r.client.written == b""


@pytest.mark.parametrize("who", ["client", "backend"])
def test_a_side_vanishing_mid_frame_gets_its_peer_no_frame_inside_a_frame(who: str) -> None:
    """A connection that ends inside a frame leaves its peer's stream cut mid-frame: a close
    frame of ours there would be read as payload, so the peer's connection is just closed."""
    r = relay()
    if who == "client":
        cut, side, peer = masked(BINARY, b"z" * 1000)[:500], r.client, r.backend
    else:
        cut, side, peer = plain(BINARY, b"z" * 1000)[:500], r.backend, r.client
    r.pipe.received(side, cut)
    r.pipe.ended(side)
    assert bytes(peer.written) == cut
    assert side.written == b""
    r.assert_over()


def test_shutdown_closes_both_with_1001_and_the_reason() -> None:
    r = relay(ping_interval=1.0)
    r.pipe.shutdown("server shutting down")
    assert r.client.close_sent() == (GOING_AWAY, "server shutting down")
    assert r.backend.close_sent() == (GOING_AWAY, "server shutting down")
    r.assert_over()
    r.pipe.shutdown("again")  # over already: nothing more
    r.pipe.ended(r.client)
    assert r.client.closes == 1 and len(r.done) == 1


def test_shutdown_writes_no_close_inside_a_frame_or_after_a_close() -> None:
    """Shutting down while a frame towards the client is half through, and after the backend
    has sent its close: neither side gets a frame of ours (RFC 6455 §5.5.1)."""
    r = relay()
    r.from_backend(plain(BINARY, b"q" * 100)[:50])
    r.from_client(close_frame(NORMAL, "", masked=True))
    r.pipe.shutdown("server shutting down")
    assert bytes(r.client.written) == plain(BINARY, b"q" * 100)[:50]
    assert r.backend.close_sent() == (NORMAL, "")  # the client's own, relayed
    r.assert_over()


# -- backpressure ------------------------------------------------------------------------------


@pytest.mark.parametrize("full_side", ["client", "backend"])
def test_a_full_side_pauses_its_peer_until_it_drains(full_side: str) -> None:
    """A side whose outgoing buffer fills stops the reads of the other side (a slow reader
    slows the writer) until it drains; the full side's own reads go on."""
    r = relay()
    full, peer = (r.client, r.backend) if full_side == "client" else (r.backend, r.client)
    r.pipe.blocked(full, True)
    assert (peer.flow, full.flow) == (["pause"], [])
    r.pipe.blocked(full, False)
    assert (peer.flow, full.flow) == (["pause", "resume"], [])


# -- keep-alive --------------------------------------------------------------------------------


def pings(side: FakeSide) -> int:
    return sum(op == PING for op, _ in side.frames())


def test_no_pings_when_the_interval_is_0() -> None:
    r = relay(ping_interval=0.0)
    assert not r.loop.timers
    r.loop.advance(3600)
    assert r.client.written == b""


def test_a_silent_client_is_pinged_and_its_pong_goes_on_to_the_backend() -> None:
    """A client heard from within an interval is not pinged; one silent for an interval is,
    unmasked (server to client, RFC 6455 §5.3). Its pong is relayed: the backend ignores an
    unsolicited pong (§5.5.3), and the client counts as heard again."""
    r = relay(ping_interval=1.0, ping_timeout=3.0)
    r.loop.advance(1.0)  # the first tick: the client is new, so counts as heard
    assert pings(r.client) == 0
    r.from_client(masked(TEXT, b"hi"))
    r.loop.advance(1.0)  # heard during this interval
    assert pings(r.client) == 0
    r.loop.advance(1.0)  # silent for one: pinged
    assert pings(r.client) == 1
    assert r.client.written[1] & 0x80 == 0
    r.from_client(masked(PONG, b""))
    assert r.backend.frames()[-1] == (PONG, b"")
    for _ in range(10):  # a client that answers every ping stays, however long
        seen = pings(r.client)
        r.loop.advance(1.0)
        if pings(r.client) > seen:
            r.from_client(masked(PONG, b""))
    assert not r.done
    assert pings(r.client) > 1


def test_a_client_silent_for_the_ping_timeout_is_let_go() -> None:
    r = relay(ping_interval=1.0, ping_timeout=3.0)
    r.from_backend(plain(TEXT, b"backend talk does not count"))
    r.loop.advance(3.5)
    assert not r.done
    r.loop.advance(1.0)  # three silent intervals after the first tick
    assert r.client.close_sent() == (GOING_AWAY, "no answer to pings")
    assert r.backend.close_sent() == (GOING_AWAY, "client stopped answering pings")
    r.assert_over()


def test_no_ping_goes_inside_a_frame_towards_the_client() -> None:
    """While a frame from the backend is half relayed, the tick skips its ping: a ping written
    there would be read as that frame's payload."""
    r = relay(ping_interval=1.0, ping_timeout=10.0)
    r.loop.advance(1.0)
    r.from_backend(plain(BINARY, b"w" * 100)[:10])
    r.loop.advance(1.0)
    assert bytes(r.client.written) == plain(BINARY, b"w" * 100)[:10]
    r.from_backend(plain(BINARY, b"w" * 100)[10:])
    r.loop.advance(1.0)
    assert pings(r.client) == 1


def test_ending_cancels_the_ping_timer() -> None:
    r = relay(ping_interval=1.0)
    assert len(r.loop.pending) == 1
    r.pipe.ended(r.client)
    r.assert_over()
    r.loop.advance(100.0)
    assert r.client.written == b""


# -- rule-breaking frames ----------------------------------------------------------------------


def test_an_unmasked_client_frame_is_refused_with_1002_and_the_reason() -> None:
    """Frames before the bad one are relayed; the bad one is not. The client hears 1002 and
    the rule, the backend 1001 and whose fault it was."""
    r = relay()
    r.from_client(masked(TEXT, b"fine") + plain(TEXT, b"bad"))
    assert r.backend.frames()[0] == (TEXT, b"fine")
    assert r.client.close_sent() == (PROTOCOL_ERROR, "a client's frames must be masked")
    code, reason = r.backend.close_sent() or (0, "")
    assert code == GOING_AWAY
    assert reason == "the client broke the websocket rules: a client's frames must be masked"
    r.assert_over()


def test_a_masked_backend_frame_is_refused_with_a_masked_1002() -> None:
    r = relay()
    r.from_backend(masked(TEXT, b"bad"))
    assert r.backend.close_sent() == (PROTOCOL_ERROR, "a server's frames must not be masked")
    assert r.backend.written[1] & 0x80, "our frames towards a server are masked"
    assert r.client.close_sent() == (
        GOING_AWAY,
        "the backend broke the websocket rules: a server's frames must not be masked",
    )
    r.assert_over()


@pytest.mark.parametrize(
    "bad",
    [
        frame(TEXT, b"x", masked=True, rsv=0x40),
        frame(0x3, b"x", masked=True),
        frame(0x0, b"x", masked=True),
        frame(PING, b"x" * 126, masked=True),
    ],
    ids=["reserved bit", "reserved opcode", "stray continuation", "long ping"],
)
def test_other_rule_breaking_frames_are_refused_with_1002(bad: bytes) -> None:
    r = relay()
    r.from_client(bad)
    assert r.backend.frames()[0][0] == CLOSE
    assert (r.client.close_sent() or (0, ""))[0] == PROTOCOL_ERROR
    r.assert_over()


def test_a_message_over_the_limit_is_refused_with_1009_before_any_of_it_passes() -> None:
    """The limit counts a message across its fragments, and is checked at each frame's header:
    the frame that goes over is not relayed at all."""
    r = relay(limit=100)
    first = masked(BINARY, b"a" * 60, final=False)
    r.from_client(first + masked(0x0, b"b" * 60))
    assert r.client.close_sent() == (TOO_BIG, "message over the proxy's limit of 100 bytes")
    assert r.backend.written.startswith(first)
    assert r.backend.frames()[1:] == [
        (CLOSE, GOING_AWAY.to_bytes(2, "big") + b"the client broke the websocket rules: "
         b"message over the proxy's limit of 100 bytes"),
    ]  # fmt: skip
    r.assert_over()


def test_a_refusal_writes_no_close_inside_a_frame_towards_the_peer() -> None:
    """The backend breaks a rule while a client frame towards it is half through: the backend
    gets no close frame of ours (it would land inside that frame), the client its 1001."""
    r = relay()
    r.from_client(masked(BINARY, b"m" * 100)[:20])
    r.from_backend(masked(TEXT, b"bad"))
    assert bytes(r.backend.written) == masked(BINARY, b"m" * 100)[:20]
    assert (r.client.close_sent() or (0, ""))[0] == GOING_AWAY
    r.assert_over()


def test_control_frames_of_ours_use_the_wsframes_helpers() -> None:
    """(A check of this file's parser against the helpers the pipe writes with.)"""
    side = FakeSide(client=False)
    side.write(control_frame(PING, b"abc", masked=True) + close_frame(1000, "é", masked=True))
    assert side.frames() == [(PING, b"abc"), (CLOSE, b"\x03\xe8" + "é".encode())]
