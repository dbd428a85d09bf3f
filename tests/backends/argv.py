"""A backend that tells what it was started with: ``argv.py <port> [args...]`` answers every
GET with JSON ``{"argv": [args...], "env": {...}, "path": ...}``, ``env`` holding the
variables named ``JUPYTER_SERVER_PROXY_*`` or ``JSP_*``. Standard library only."""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        env = {
            k: v for k, v in os.environ.items() if k.startswith(("JUPYTER_SERVER_PROXY_", "JSP_"))
        }
        body = json.dumps({"argv": sys.argv[2:], "env": env, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
