"""The demo app: a small HTTP server on a unix socket that shows what it receives.

Standard library only. It answers only requests that carry the secret jupyter-server-proxy gave
this run: anyone else who reaches the socket gets 403. Run it by hand with
``JUPYTER_SERVER_PROXY_SECRET=s python -m hello_demo_proxy.app --unix-socket PATH`` and
``curl --unix-socket PATH -H "X-Jupyter-Server-Proxy-Secret: s" http://localhost/``.
"""

from __future__ import annotations

import argparse
import hmac
import html
import os
import socketserver
from http.server import BaseHTTPRequestHandler

CONTEXT_HEADERS = {"x-forwarded-context", "x-proxycontextpath", "x-forwarded-prefix"}
SECRET_HEADER = "x-jupyter-server-proxy-secret"
REFUSED = b"403: this app answers only through jupyter-server-proxy\n"


def from_the_proxy(headers: list[tuple[str, str]]) -> bool:
    """Whether a request carries the secret jupyter-server-proxy put in this run's environment,
    compared in constant time. (An app that can import jupyter-server-proxy 5 calls
    ``jupyter_server_proxy.verify(headers)`` instead, which does the same.)"""
    expected = os.environ.get("JUPYTER_SERVER_PROXY_SECRET", "")
    sent = [v for n, v in headers if n.lower() == SECRET_HEADER]
    # Bytes: compare_digest refuses a str with non-ASCII characters, which anyone can send.
    return (
        bool(expected)
        and len(sent) == 1
        and hmac.compare_digest(sent[0].strip().encode("utf-8", "replace"), expected.encode())
    )


def render(path: str, headers: list[tuple[str, str]]) -> str:
    def row(name: str, value: str) -> str:
        if name.lower() == "cookie":
            # Show which cookies arrived, never their values.
            value = "; ".join(part.split("=", 1)[0].strip() + "=…" for part in value.split(";"))
        elif name.lower() == SECRET_HEADER:
            value = "… (verified)"  # never shown: it is what keeps strangers out
        return f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"

    context = [(n, v) for n, v in headers if n.lower() in CONTEXT_HEADERS]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Hello from a proxied app</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}th{{text-align:left;padding-right:1em}}
code{{background:#f4f4f4;padding:0 .3em}}</style></head>
<body>
<h1>Hello from a proxied app</h1>
<p>This app runs beside Jupyter on a unix socket; jupyter-server-proxy started it and
forwards this page to you.</p>
<p>Path it received: <code id="path">{html.escape(path)}</code></p>
<h2>Where it is mounted</h2>
<table id="context">{"".join(row(n, v) for n, v in context)}</table>
<h2>All request headers</h2>
<table id="headers">{"".join(row(n, v) for n, v in headers)}</table>
</body></html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "hello-demo/0.1"

    def refused(self) -> bool:
        """Whether this request lacks the run's secret (and has been answered 403): it did
        not come through jupyter-server-proxy, but straight to the socket."""
        if from_the_proxy(list(self.headers.items())):
            return False
        self.send_response(403)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(REFUSED)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(REFUSED)
        return True

    def do_GET(self) -> None:
        if self.refused():
            return
        body = render(self.path, list(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        if self.refused():
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()

    def address_string(self) -> str:
        return "unix-socket"  # a unix socket peer has no host address to log


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unix-socket", required=True)
    args = parser.parse_args()
    if os.path.exists(args.unix_socket):
        os.unlink(args.unix_socket)
    with Server(args.unix_socket, Handler) as server:
        print(f"hello: serving on {args.unix_socket}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
