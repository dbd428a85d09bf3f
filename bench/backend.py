"""The benchmark backend (aiohttp): what every target proxies to.

/, /small     2 bytes
/bytes/<n>    n bytes, streamed in 256 KiB chunks (never held whole)
/sink         reads an upload of any size as a stream; answers the byte count
/ws           websocket echo, no message size limit

    python bench/backend.py --port N [--tag TEXT]

``--tag`` is ignored by the app; the harness puts a unique tag on the command line of every app
it has a Jupyter server start, so it can find (and stop) any that outlive their server.
"""

from __future__ import annotations

import argparse
import ssl

from aiohttp import WSMsgType, web

CHUNK = b"x" * (256 * 1024)


async def small(request: web.Request) -> web.Response:
    return web.Response(body=b"ok")


async def stream_bytes(request: web.Request) -> web.StreamResponse:
    n = int(request.match_info["n"])
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    resp.content_length = n
    await resp.prepare(request)
    sent = 0
    view = memoryview(CHUNK)
    while sent < n:
        part = view[: min(len(CHUNK), n - sent)]
        await resp.write(part)  # waits on the transport when the client is slow (backpressure)
        sent += len(part)
    await resp.write_eof()
    return resp


async def sink(request: web.Request) -> web.Response:
    n = 0
    async for chunk in request.content.iter_any():
        n += len(chunk)
    return web.json_response({"received": n})


async def ws(request: web.Request) -> web.WebSocketResponse:
    sock = web.WebSocketResponse(max_msg_size=0)
    await sock.prepare(request)
    async for msg in sock:
        if msg.type == WSMsgType.TEXT:
            await sock.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await sock.send_bytes(msg.data)
    return sock


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tag", default="")
    parser.add_argument("--tls-cert", default=None)
    args = parser.parse_args()
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert)
    app = web.Application(client_max_size=0)
    app.router.add_get("/small", small)
    app.router.add_get("/", small)
    app.router.add_get("/bytes/{n}", stream_bytes)
    app.router.add_post("/sink", sink)
    app.router.add_get("/ws", ws)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, ssl_context=tls)


if __name__ == "__main__":
    main()
