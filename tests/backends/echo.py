"""A real backend for the engine's tests (aiohttp), on a TCP port or a unix socket, plain or
TLS (``--tls-cert``, and ``--tls-client-ca`` to require a client certificate).

Routes (everything else echoes):
  any ?redirect_to=X   302 with Location X, whatever the path
  /echo/...            JSON: method, raw path, query, headers (as a list of pairs), body length
  /bytes/<n>           n bytes ("x"), streamed in 64 KiB chunks, never held whole
  /sink                reads any upload as a stream; JSON {"received": n, "sha256": ...}
  /redirect?to=<loc>   302 with that Location
  /cookies             two Set-Cookie headers
  /sse/<n>             text/event-stream: n events, each flushed on its own; waits for
                       /sse-go before the last one, so a test can see the first arrive early;
                       ?big=<n> pads the first event with n bytes
  /die/<n>             announces 10 MiB, sends n bytes, then kills the connection
  /slow-head           never answers (until the client leaves)
  /stall/<n>           announces 16 MiB, sends n bytes, then goes silent
  /gzip                a body with Content-Encoding: gzip, as stored
  /env/<name>          JSON {"value": the environment variable <name>, or null}
  /environ             JSON: this process's environment variables named JUPYTER_SERVER_PROXY_*
                       or JSP_* (what the proxy told the app it started)
  /ws                  websocket echo; text "close:<code>:<reason>" makes it close that way;
                       answers with the subprotocol it was offered first; sets a cookie;
                       "drop" ends the TCP connection with no close frame; "flood:<n>" sends
                       n binary messages of 1 MiB as fast as the proxy takes them;
                       "cut:<n>" sends the header of an n-byte binary frame and half its
                       payload, then ends the TCP connection
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import os
import ssl
import sys

from aiohttp import WSMsgType, web

_sse_go = asyncio.Event()
_events: dict[str, int] = {"disconnects": 0}


async def echo(request: web.Request) -> web.Response:
    if "redirect_to" in request.query:
        return web.Response(status=302, headers={"Location": request.query["redirect_to"]})
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.raw_path.split("?", 1)[0],
            "raw_path": request.raw_path,
            "query": request.query_string,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers],
            "body_length": len(body),
            "body": body[:1024].decode("latin-1"),
        }
    )


async def environ(request: web.Request) -> web.Response:
    told = ("JUPYTER_SERVER_PROXY_", "JSP_")
    return web.json_response({k: v for k, v in os.environ.items() if k.startswith(told)})


async def stream_bytes(request: web.Request) -> web.StreamResponse:
    n = int(request.match_info["n"])
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    resp.content_length = n
    await resp.prepare(request)
    if request.method == "HEAD":
        return resp
    chunk = b"x" * 65536
    sent = 0
    try:
        while sent < n:
            part = chunk[: min(len(chunk), n - sent)]
            await resp.write(part)
            sent += len(part)
    except (ConnectionError, asyncio.CancelledError):
        _events["disconnects"] += 1
        raise
    await resp.write_eof()
    return resp


async def sink(request: web.Request) -> web.Response:
    digest = hashlib.sha256()
    n = 0
    async for chunk in request.content.iter_any():
        n += len(chunk)
        digest.update(chunk)
    return web.json_response({"received": n, "sha256": digest.hexdigest()})


async def redirect(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": request.query["to"]})


async def cookies(request: web.Request) -> web.Response:
    resp = web.Response(text="ok")
    resp.headers.add("Set-Cookie", "a=1; Path=/")
    resp.headers.add("Set-Cookie", "b=2; Path=/")
    return resp


async def sse(request: web.Request) -> web.StreamResponse:
    n = int(request.match_info["n"])
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    big = int(request.query.get("big", "0"))  # the first event carries this many more bytes
    for i in range(n):
        if i == n - 1:
            await _sse_go.wait()
        padding = "x" * big if i == 0 else ""
        await resp.write(f"data: event {i}{padding}\n\n".encode())
    _sse_go.clear()
    return resp


async def sse_go(request: web.Request) -> web.Response:
    _sse_go.set()
    return web.Response(text="go")


async def die(request: web.Request) -> web.StreamResponse:
    n = int(request.match_info["n"])
    resp = web.StreamResponse()
    resp.content_length = 10 << 20
    await resp.prepare(request)
    await resp.write(b"y" * n)
    await asyncio.sleep(0)
    assert request.transport is not None
    request.transport.abort()
    return resp


async def stall(request: web.Request) -> web.StreamResponse:
    """Announces 16 MiB, sends n bytes, then says nothing more (until the client leaves)."""
    n = int(request.match_info["n"])
    resp = web.StreamResponse()
    resp.content_length = 16 << 20
    await resp.prepare(request)
    await resp.write(b"s" * n)
    await asyncio.Event().wait()
    return resp


async def slow_head(request: web.Request) -> web.Response:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        _events["disconnects"] += 1
        raise
    raise AssertionError


async def events(request: web.Request) -> web.Response:
    return web.json_response(_events)


async def gz(request: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(b"hello gzip"),
        headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
    )


async def ws(request: web.Request) -> web.WebSocketResponse:
    offered = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    sock = web.WebSocketResponse(protocols=offered[:1], max_msg_size=0, autoping=True)
    sock.headers["Set-Cookie"] = "wscookie=1; Path=/"
    # Whether a handshake arrived with a ``token`` query argument (credentials must not).
    _events["ws_with_token"] = int("token" in request.query)
    await sock.prepare(request)
    try:
        await _echo_messages(request, sock)
    finally:  # also when aiohttp cancels the handler: a connection that ended inside a frame
        _events["ws_close_code"] = sock.close_code or 0
        if "id" in request.query:  # a test that needs its own connection's close code asks
            _events[f"ws_close_code:{request.query['id']}"] = sock.close_code or 0
    return sock


async def _echo_messages(request: web.Request, sock: web.WebSocketResponse) -> None:
    async for msg in sock:
        if msg.type == WSMsgType.TEXT:
            if msg.data.startswith("close:"):
                _, code, reason = msg.data.split(":", 2)
                await sock.close(code=int(code), message=reason.encode())
                return
            if msg.data == "headers":
                await sock.send_str(json.dumps([[k, v] for k, v in request.headers.items()]))
                continue
            if msg.data == "path":
                await sock.send_str(request.raw_path)
                continue
            if msg.data == "drop":
                assert request.transport is not None
                request.transport.abort()
                return
            if msg.data.startswith("cut:"):
                n = int(msg.data.split(":")[1])
                assert request.transport is not None and n >= 1 << 16
                request.transport.write(bytes((0x82, 127)) + n.to_bytes(8, "big"))
                request.transport.write(b"c" * (n // 2))
                request.transport.close()  # after what was written: a FIN mid-frame
                return
            if msg.data.startswith("flood:"):
                block = b"f" * (1 << 20)
                for _ in range(int(msg.data.split(":")[1])):
                    await sock.send_bytes(block)
                continue
            await sock.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await sock.send_bytes(msg.data)


async def env(request: web.Request) -> web.Response:
    return web.json_response({"value": os.environ.get(request.match_info["name"])})


def make_app() -> web.Application:
    app = web.Application(client_max_size=0)
    app.router.add_get("/bytes/{n}", stream_bytes)
    app.router.add_route("*", "/sink", sink)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/sse/{n}", sse)
    app.router.add_get("/sse-go", sse_go)
    app.router.add_get("/die/{n}", die)
    app.router.add_get("/slow-head", slow_head)
    app.router.add_get("/stall/{n}", stall)
    app.router.add_get("/events", events)
    app.router.add_get("/gzip", gz)
    app.router.add_get("/env/{name}", env)
    app.router.add_get("/environ", environ)
    app.router.add_get("/ws", ws)
    app.router.add_route("*", r"/{tail:[\s\S]*}", echo)
    return app


def tls_context(certfile: str, client_ca: str | None) -> ssl.SSLContext:
    """The backend's TLS: its certificate chain and key in ``certfile``; with ``client_ca``, a
    client certificate signed by that CA is required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--unix-socket")
    parser.add_argument("--tls-cert", help="serve TLS: a PEM file with key and certificate chain")
    parser.add_argument("--tls-client-ca", help="require a client certificate from this CA")
    args = parser.parse_args()
    app = make_app()
    tls = tls_context(args.tls_cert, args.tls_client_ca) if args.tls_cert else None
    if args.unix_socket:
        web.run_app(
            app,
            path=args.unix_socket,
            print=None,
            handle_signals=True,
            handler_cancellation=True,
            ssl_context=tls,
        )
    else:
        web.run_app(
            app,
            host="127.0.0.1",
            port=args.port,
            print=None,
            handler_cancellation=True,
            ssl_context=tls,
        )


if __name__ == "__main__":
    sys.exit(main())
