"""The compat suite's backend app: plain tornado, so it runs in any environment the suite runs in.

Routes:
  /ws...          websocket: first sends a JSON hello (path, query, headers, offered and chosen
                  subprotocol), then echoes every message; ?pick=N chooses the N-th offered
                  subprotocol (default: the first)
  /stream         writes "first", then waits (at most 30 s) for /release before "second"
  /release        lets /stream finish
  /redirect?to=X  302 with Location X
  anything else   JSON: method, raw path, query, headers, argv, COMPAT_APP_* environment, the
                  client's port of this connection (to see connection reuse), body length
Options: --port N or --unix-socket PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from tornado import httpserver, netutil, web, websocket

_release = asyncio.Event()


def _describe(request: object) -> dict[str, object]:
    req = request  # tornado.httputil.HTTPServerRequest
    try:
        peer = req.connection.stream.socket.getpeername()  # type: ignore[attr-defined]
        peer_port = peer[1] if isinstance(peer, tuple) else None
    except (AttributeError, OSError):
        peer_port = None
    return {
        "method": req.method,  # type: ignore[attr-defined]
        "path": req.path,  # type: ignore[attr-defined]
        "uri": req.uri,  # type: ignore[attr-defined]
        "query": req.query,  # type: ignore[attr-defined]
        "headers": list(req.headers.get_all()),  # type: ignore[attr-defined]
        "argv": sys.argv[1:],
        "env": {k: v for k, v in os.environ.items() if k.startswith("COMPAT_APP_")},
        "peer_port": peer_port,
        "body_length": len(req.body or b""),  # type: ignore[attr-defined]
    }


class Echo(web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")

    def check_xsrf_cookie(self) -> None:
        pass

    def _answer(self, *args: str) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(_describe(self.request)))

    get = post = put = delete = patch = options = _answer

    def head(self, *args: str) -> None:
        self.set_header("Content-Type", "application/json")


class Ws(websocket.WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        self.offered = list(subprotocols)
        if not subprotocols:
            return None
        return subprotocols[int(self.get_argument("pick", "0"))]

    def open(self, *args: str) -> None:
        hello = _describe(self.request)
        hello["offered"] = getattr(self, "offered", [])
        hello["chosen"] = self.selected_subprotocol
        self.write_message(json.dumps(hello))

    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


class Stream(web.RequestHandler):
    async def get(self) -> None:
        self.write("first")
        await self.flush()
        try:
            await asyncio.wait_for(_release.wait(), 30)
        except asyncio.TimeoutError:
            pass
        self.write("second")


class Release(web.RequestHandler):
    def get(self) -> None:
        _release.set()
        self.write("released")


class Redirect(web.RequestHandler):
    def get(self) -> None:
        self.redirect(self.get_argument("to"))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--unix-socket")
    parser.add_argument("--base-url")  # only reported back, in argv
    args, _ = parser.parse_known_args()
    app = web.Application(
        [
            (r"/ws.*", Ws),
            (r"/stream", Stream),
            (r"/release", Release),
            (r"/redirect", Redirect),
            (r"/.*", Echo),
        ],
        websocket_max_message_size=64 * 1024 * 1024,
    )
    server = httpserver.HTTPServer(app, max_body_size=64 * 1024 * 1024)
    if args.unix_socket:
        server.add_socket(netutil.bind_unix_socket(args.unix_socket))
    else:
        server.listen(args.port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
