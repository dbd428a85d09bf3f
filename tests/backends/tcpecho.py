"""A TCP echo server (no HTTP at all), for raw_socket_proxy apps; over TLS with ``--tls-cert``.

It echoes what it reads, except two commands, each read on its own: ``close`` ends the
connection (a FIN) and ``reset`` breaks it off (a RST).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import struct


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        if data == b"reset":
            # SO_LINGER with a zero timeout: close() sends a RST instead of a FIN.
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        if data == b"close":
            break
        writer.write(data)
        await writer.drain()
    writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-cert", help="a PEM file with key and certificate chain")
    args = parser.parse_args()
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert)
    server = await asyncio.start_server(handle, "127.0.0.1", args.port, ssl=tls)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
