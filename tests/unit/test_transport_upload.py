"""The request-body channel: bounded, ordered, ends cleanly, and never strands a put."""

from __future__ import annotations

import asyncio

from jupyter_server_proxy.transport.upload import BodyChannel


def test_chunks_arrive_in_order_and_the_end_ends_iteration() -> None:
    async def go() -> list[bytes]:
        channel = BodyChannel(2)

        async def produce() -> None:
            for i in range(10):
                await channel.put(b"%d" % i)
            channel.end()

        producer = asyncio.ensure_future(produce())
        got = [chunk async for chunk in channel]
        await producer
        return got

    assert asyncio.run(go()) == [b"%d" % i for i in range(10)]


def test_a_full_channel_makes_put_wait_until_a_take() -> None:
    async def go() -> None:
        channel = BodyChannel(2)
        await channel.put(b"a")
        await channel.put(b"b")
        third = asyncio.ensure_future(channel.put(b"c"))
        await asyncio.sleep(0)  # one turn: the put runs up to its wait for room
        assert not third.done()  # bounded: the third chunk waits
        taker = aiter(channel)
        assert await anext(taker) == b"a"
        await asyncio.wait_for(third, 5)
        channel.end()
        assert [chunk async for chunk in taker] == [b"b", b"c"]

    asyncio.run(go())


def test_abandon_releases_a_waiting_put_and_drops_later_chunks() -> None:
    async def go() -> None:
        channel = BodyChannel(1)
        await channel.put(b"a")
        waiting = asyncio.ensure_future(channel.put(b"b"))
        await asyncio.sleep(0)  # one turn: the put runs up to its wait for room
        channel.abandon()
        await asyncio.wait_for(waiting, 5)
        await channel.put(b"c")  # returns at once, dropped
        assert [chunk async for chunk in channel] == []

    asyncio.run(go())
