"""An app for readiness probes, on a TCP port or a unix socket (raw asyncio, no HTTP library).

It answers each request with ``--status`` and a short body, except the first ``--warm-up``
requests, which get 503 (an app warming up). With ``--silent`` it accepts connections and
reads the requests but never answers. Every request line it reads is appended to ``--log``
(if given),
so a test can tell which path was probed and how often.
"""

from __future__ import annotations

import argparse
import asyncio


def record(path: str, line: str) -> None:
    with open(path, "a") as log:  # a line at a time: a test reads it while the app runs
        log.write(line + "\n")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--unix-socket")
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=0)
    parser.add_argument("--silent", action="store_true")
    parser.add_argument("--log")
    args = parser.parse_args()
    seen = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        if args.log:
            record(args.log, head.split(b"\r\n", 1)[0].decode())
        if args.silent:
            await reader.read()  # until the prober gives up and closes
            writer.close()
            return
        seen += 1
        status = 503 if seen <= args.warm_up else args.status
        writer.write(b"HTTP/1.1 %d Status\r\nContent-Length: 2\r\n\r\nhi" % status)
        await writer.drain()
        writer.close()

    if args.unix_socket:
        server = await asyncio.start_unix_server(handle, args.unix_socket)
    else:
        server = await asyncio.start_server(handle, "127.0.0.1", args.port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
