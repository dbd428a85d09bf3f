"""A backend that ends by itself, for restart policies and crash loops.

  --port N      serve HTTP on 127.0.0.1:N: every GET answers 200 "up <pid>"
  --code C      the exit code it ends with (default 7)
  --after S     end S seconds after it starts listening (default: only on GET /exit)

``GET /exit`` answers, then the process ends with code C. It prints a line when it listens and
one as it ends, for the log the proxy keeps.
"""

from __future__ import annotations

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--code", type=int, default=7)
    parser.add_argument("--after", type=float)
    args = parser.parse_args()

    def end() -> None:
        print(f"exits.py ending with code {args.code}", flush=True)
        os._exit(args.code)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"up {os.getpid()}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if self.path == "/exit":
                end()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"exits.py up on port {args.port}", flush=True)
    if args.after is not None:
        threading.Timer(args.after, end).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
