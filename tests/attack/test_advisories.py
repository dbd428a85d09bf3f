"""The published advisories of jupyter-server-proxy 4.x, each replayed against a real server.

One test per advisory, named after it; each reproduces the attack as published and states what
must happen instead:
- GHSA-w3vc-fx9p-wp4v (CVE-2024-28179): websockets were proxied without authentication.
- GHSA-gcv9-6737-pjqw (CVE-2022-21697): SSRF; the path was appended to ``http://host:port``, so
  ``/proxy/<port>@<other host>/`` reached another host, past the allowlist.
- GHSA-fvcq-4x64-hqxr (CVE-2024-35225): reflected XSS; an invalid ``host`` in ``/proxy/<host>:…``
  was echoed unescaped into the error page.
- GHSA-q52h-2389-h4hv: a user who listens on a local port (``nc -l -p 12345``) collected the
  Jupyter cookies of every user who opened ``/proxy/12345/``, and with them their session.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp

from tests.attack.rawhttp import fetch, read_head, ws_upgrade
from tests.conftest import JupyterServer, module_server

server = module_server()


class Listener:
    """What ``nc -l`` does for an attacker: accept on a port and keep what arrives."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.heads: list[bytes] = []
        self._server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._take, self.host, self.port or None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _take(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.heads.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def test_GHSA_w3vc_fx9p_wp4v_unauthenticated_websocket_is_refused(server: JupyterServer) -> None:
    """A websocket upgrade with no credentials, or with a wrong token, gets 403 and nothing
    reaches the app: not even a TCP connection."""

    async def go() -> None:
        async with Listener() as app:
            for headers in ({}, {"Authorization": "token wrong"}, {"Cookie": "username-x=forged"}):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                try:
                    upgrade = ws_upgrade(server, f"/proxy/{app.port}/ws", auth=False)
                    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
                    writer.write(upgrade[:-2] + extra + b"\r\n")
                    status, _ = await asyncio.wait_for(read_head(reader), 60)
                finally:
                    writer.transport.abort()
                assert status == 403, (headers, status)
            # An authenticated one does reach it (the listener is no websocket server).
            await fetch(server, f"/proxy/{app.port}/")
            assert len(app.heads) == 1

    asyncio.run(go())


def test_GHSA_gcv9_6737_pjqw_path_cannot_change_the_host(server: JupyterServer) -> None:
    """``/proxy/<port>@<host>:<port>/``, with the ``@`` plain or encoded, or the other host after
    a ``/``, never makes the proxy connect to another host: the attacker's host (127.0.0.2,
    outside the default allowlist) sees no connection, and the answers are refusals or come
    from the allowed backend itself."""

    async def go() -> None:
        async with Listener("127.0.0.2") as outside, Listener() as allowed:
            p, q = allowed.port, outside.port
            attacks = [
                f"/proxy/{p}@127.0.0.2:{q}/",
                f"/proxy/{p}%40127.0.0.2:{q}/",
                f"/proxy/localhost:{p}@127.0.0.2:{q}/",
                f"/proxy/localhost:{p}%40127.0.0.2:{q}/",
                f"/proxy/absolute/{p}@127.0.0.2:{q}/",
                f"/proxy/{p}/@127.0.0.2:{q}/",
                f"/proxy/{p}//127.0.0.2:{q}/",
                f"/proxy/127.0.0.1@127.0.0.2:{q}/",
                f"/proxy/127.0.0.2:{q}/",
            ]
            for path in attacks:
                answer = await fetch(server, path)
                assert answer.status in (200, 400, 403, 404), (path, answer.status)
            assert outside.heads == []
            # What did reach the allowed backend asked for a path on it, not for another host.
            for head in allowed.heads:
                target = head.split(b" ", 2)[1]
                assert target.startswith(b"/"), target

    asyncio.run(go())


def test_GHSA_fvcq_4x64_hqxr_invalid_host_is_not_reflected_as_markup(
    server: JupyterServer,
) -> None:
    """A phishing link whose ``host`` carries a script gets an error page in which the script is
    text: no ``<script>`` or event-handler markup of the attacker's is in the page (an API
    client asking for JSON gets ``application/json``, which no browser renders as a page)."""
    payloads = [
        "%3Cscript%3Ealert(document.domain)%3C/script%3E",
        "%3Cimg%20src=x%20onerror=alert(1)%3E",
        "%22%3E%3Csvg/onload=alert(1)%3E",
        "evil%22onmouseover=%22alert(1)",
    ]

    async def go() -> None:
        for payload in payloads:
            for path in (f"/proxy/{payload}:8080/", f"/proxy/absolute/{payload}:8080/x"):
                for accept in ("text/html", "application/json"):
                    answer = await fetch(server, path, headers={"Accept": accept})
                    assert 400 <= answer.status < 500, (path, answer.status)
                    ctype = answer.header("Content-Type") or ""
                    if "json" in ctype:  # data, never rendered as a page
                        assert ctype.startswith("application/json"), ctype
                        continue
                    assert ctype.startswith("text/html"), ctype
                    body = answer.body.decode("utf-8", "replace").lower()
                    assert "<script>alert" not in body, body
                    assert not re.search(r"<(img|svg)[^>]*on(error|load)", body), body
                    assert not re.search(r"\"\s*onmouseover", body), body

    asyncio.run(go())


def test_GHSA_q52h_2389_h4hv_a_listening_user_gets_no_session(server: JupyterServer) -> None:
    """User A listens on a port; user B, logged in through the browser (a real login cookie and
    ``_xsrf``), opens ``/proxy/<port>/`` with every way of carrying Jupyter credentials. What A
    receives holds none of them: no login cookie, no token, in the head or the query."""

    async def go() -> None:
        # unsafe=True: aiohttp's jar otherwise drops cookies set by an IP address host.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            # Log in as a browser does: the token link sets the login cookie.
            async with browser.get(server.url(f"tree?token={server.token}")) as r:
                assert r.status == 200
            cookies = {c.key: c.value for c in browser.cookie_jar}
            login = [k for k in cookies if k.startswith("username-")]
            assert login, cookies
            cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items())
            async with Listener() as attacker:
                requests = [
                    {"Cookie": cookie_header + "; jupyterhub-session-id=abc"},
                    {"Cookie": cookie_header, "Authorization": f"token {server.token}"},
                    {"Cookie": cookie_header, "Authorization": f"Bearer\t{server.token}"},
                ]
                for headers in requests:
                    async with browser.get(
                        server.url(f"proxy/{attacker.port}/?token={server.token}&x=1"),
                        headers={**headers, "Sec-Fetch-Site": "same-origin"},
                    ) as r:
                        assert r.status == 200
                        assert await r.read() == b"ok"
            assert len(attacker.heads) == len(requests)
            secrets = [server.token.encode()] + [cookies[k].encode() for k in login]
            for head in attacker.heads:
                for secret in secrets:
                    assert secret not in head, head
                assert b"username-" not in head and b"jupyterhub-" not in head, head
                assert b"x=1" in head  # the rest of the query still arrives

    asyncio.run(go())
