"""A relay side on an asyncio transport (``transportside.TransportSide``, a TLS backend), on a
fake transport and a fake relay with time in the test's hands: what arrived before ``attach``
goes first and in order, reading starts only then, backpressure maps both ways, the end is
reported once and never from inside a call of the relay's, and a close waits a bounded time
for a backend that no longer reads."""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server_proxy.core.wsframes import FrameScanner
from jupyter_server_proxy.relay.socketside import FLUSH_LIMIT, HIGH_WATER, LOW_WATER
from jupyter_server_proxy.relay.transportside import TransportSide
from tests.unit.test_relay_pipe import FakeLoop


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.reading = False  # paused since the backend's 101
        self.written = bytearray()
        self.closing = self.aborted = False
        self.limits: tuple[int | None, int | None] = (None, None)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.limits = (high, low)

    def write(self, data: Any) -> None:
        assert not self.closing
        self.written += data

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True


class FakeRelay:
    def __init__(self) -> None:
        self.loop = FakeLoop()
        self.events: list[Any] = []
        self.inside = False  # a call of ours into the side is running

    def received(self, side: TransportSide, data: bytes) -> None:
        self.events.append(("data", data))

    def blocked(self, side: TransportSide, full: bool) -> None:
        self.events.append(("full", full))

    def ended(self, side: TransportSide) -> None:
        assert not self.inside, "ended() from inside a call the relay made"
        self.events.append("ended")


def side(early: bytes = b"") -> tuple[TransportSide, FakeTransport]:
    transport = FakeTransport()
    scanner = FrameScanner(from_client=False, max_message_size=1 << 20)
    return TransportSide(transport, scanner, masked=True, early=early), transport


def test_early_bytes_first_and_reading_from_attach_on() -> None:
    s, transport = side(early=b"a")
    assert transport.limits == (HIGH_WATER, LOW_WATER)
    s.data_received(b"b")  # decrypted in the same turn as the 101: kept, in order
    relay = FakeRelay()
    assert not transport.reading
    s.attach(relay)
    assert relay.events == [("data", b"ab")] and transport.reading
    s.data_received(b"c")
    assert relay.events[-1] == ("data", b"c")


def test_backpressure_both_ways() -> None:
    """The relay pauses our reading; our full write buffer pauses the relay's other side,
    also when it filled before we were attached."""
    s, transport = side()
    s.pause_writing()  # the peer's early bytes filled our buffer before ``attach``
    relay = FakeRelay()
    s.attach(relay)
    assert relay.events == [("full", True)]
    s.resume_writing()
    assert relay.events[-1] == ("full", False)
    s.pause_reading()
    assert not transport.reading
    s.resume_reading()
    assert transport.reading


def test_paused_before_attach_stays_paused() -> None:
    s, transport = side()
    s.pause_reading()
    s.attach(FakeRelay())
    assert not transport.reading


def test_the_end_is_reported_once_and_later_when_it_came_before_attach() -> None:
    s, _ = side()
    s.connection_lost(None)
    relay = FakeRelay()
    relay.inside = True
    s.attach(relay)
    relay.inside = False
    assert relay.events == []
    relay.loop.advance(0)
    assert relay.events == ["ended"]


def test_close_waits_a_bounded_time_for_a_backend_that_does_not_read() -> None:
    s, transport = side()
    relay = FakeRelay()
    s.attach(relay)
    s.write(b"last words")
    s.close()
    assert transport.closing and not transport.aborted
    s.write(b"nothing after close")
    assert transport.written == b"last words"
    relay.loop.advance(FLUSH_LIMIT)
    assert transport.aborted
    s.connection_lost(None)
    assert relay.events == ["ended"]


def test_a_backend_that_takes_what_is_left_cancels_the_limit() -> None:
    s, transport = side()
    relay = FakeRelay()
    s.attach(relay)
    s.close()
    s.connection_lost(None)
    relay.loop.advance(FLUSH_LIMIT)
    assert not transport.aborted and relay.events == ["ended"]
