"""An app that spreads processes the ways real apps and launchers do, to test that every one of
them is stopped with the app.

Each process it makes appends "<role> <pid>" to the --pids file, so a test knows whom to
look for. Every extra process ignores SIGTERM (only SIGKILL stops it) and sleeps at most 600 s.
  --fork         a child in the app's own process group ("child")
  --daemonize    a daemon as launchers make one: fork, setsid(), fork again, the middle process
                 exits, the grandchild stays ("daemon")
  --tree         a child leading a process group of its own ("group-leader"), its child leading
                 a session of its own ("session-leader"), and that one's child running with the
                 app's environment cleared ("bare")
  --respawn      a child ("respawner") that answers each SIGTERM by forking a replacement
                 that does the same ("respawned", its pid written by its parent, since it may
                 be killed before it could write it): a stop must look again, round by round
  --ignore-term  the app itself ignores SIGTERM
  --exit         the app exits (code 0) once the above are made
  --delay S      the app waits S seconds before it listens, to play a slow starter
Without --port the app never listens; without --pids it records nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LINGER = 600.0


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"unruly"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def record(pids: str | None, role: str) -> None:
    if pids is None:
        return
    with open(pids, "a") as f:  # O_APPEND: one short line per write, never interleaved
        f.write(f"{role} {os.getpid()}\n")


def linger(pids: str | None, role: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    record(pids, role)
    time.sleep(LINGER)


def respawner(pids: str | None, role: str) -> None:
    def on_term(*_: object) -> None:
        child = in_child(lambda: respawner(pids, ""))
        with open(pids, "a") as f:
            f.write(f"respawned {child}\n")

    signal.signal(signal.SIGTERM, on_term)
    if role:
        record(pids, role)
    time.sleep(LINGER)  # a handled signal does not cut it short (PEP 475)


def in_child(body: object) -> int:
    """Fork; the child runs ``body()`` and exits without returning here."""
    pid = os.fork()
    if pid == 0:
        try:
            body()  # type: ignore[operator]
        finally:
            os._exit(0)
    return pid


def daemonize(pids: str | None) -> None:
    def middle() -> None:
        os.setsid()
        in_child(lambda: linger(pids, "daemon"))

    os.waitpid(in_child(middle), 0)  # the middle exits at once: the daemon is an orphan


def tree(pids: str | None) -> None:
    def group_leader() -> None:
        os.setpgid(0, 0)

        def session_leader() -> None:
            os.setsid()

            def bare() -> None:
                # Our mark goes with the cleared environment; the test run's own mark stays,
                # so the test suite's leak check still sees this process.
                env = {k: v for k, v in os.environ.items() if k == "JSP_TEST_RUN"}
                os.execve(sys.executable, [sys.executable, __file__, "--bare", pids], env)

            in_child(bare)
            linger(pids, "session-leader")

        in_child(session_leader)
        linger(pids, "group-leader")

    in_child(group_leader)


def main() -> None:
    if sys.argv[1:2] == ["--bare"]:
        linger(sys.argv[2], "bare")
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--pids")
    parser.add_argument("--port", type=int)
    parser.add_argument("--delay", type=float, default=0.0)
    for flag in ("fork", "daemonize", "tree", "respawn", "ignore-term", "exit"):
        parser.add_argument(f"--{flag}", action="store_true")
    args = parser.parse_args()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    record(args.pids, "app")
    if args.fork:
        in_child(lambda: linger(args.pids, "child"))
    if args.daemonize:
        daemonize(args.pids)
    if args.tree:
        tree(args.pids)
    if args.respawn:
        in_child(lambda: respawner(args.pids, "respawner"))
    if args.exit:
        return
    if args.port is None:
        time.sleep(LINGER)
        return
    time.sleep(args.delay)
    with ThreadingHTTPServer(("127.0.0.1", args.port), Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
