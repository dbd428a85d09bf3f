"""A tiny app for the start-up benchmark: it sleeps ``--delay`` seconds, then listens (on
``--port`` or ``--unix-socket``) and answers every request ``200 ok`` with ``Connection: close``.
With ``--mark PATH`` it writes ``time.monotonic()`` (one clock for every process on Linux) to
PATH once it listens, so the bench can tell how long after that its first 200 came.

Only the standard library's ``socket`` and ``sys`` are imported, so its own start-up time is the
interpreter's plus the delay: what an app's start costs without us. ``--tag`` is ignored; it
marks the command line so the bench can find a process that outlived its server.
"""

import socket
import sys
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def main(argv: list[str]) -> None:
    opts = dict(zip(argv[::2], argv[1::2], strict=False))
    time.sleep(float(opts.get("--delay", "0")))
    if "--unix-socket" in opts:
        server = socket.socket(socket.AF_UNIX)
        server.bind(opts["--unix-socket"])
    else:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", int(opts["--port"])))
    server.listen(64)
    if "--mark" in opts:
        with open(opts["--mark"], "w") as mark:
            mark.write(repr(time.monotonic()))
    while True:
        conn, _ = server.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    break
                head += data
            if head:
                conn.sendall(ANSWER)


if __name__ == "__main__":
    main(sys.argv[1:])
