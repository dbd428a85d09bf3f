"""Property-based attacks on the pure core: target parsing and the allowlist, credential
stripping, escaping in error pages, and the websocket frame scanner.

Each test states a rule that must hold for *every* input hypothesis can think of, not only for
the cases someone thought to write down.
"""

from __future__ import annotations

import html.parser
import ipaddress
import os
import re
import string
from urllib.parse import quote, unquote, unquote_plus

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from jupyter_server_proxy.core.allowlist import allowlist_of
from jupyter_server_proxy.core.errorpage import error_html, starting_html
from jupyter_server_proxy.core.errors import (
    AppFailed,
    BadTarget,
    HostNotAllowed,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from jupyter_server_proxy.core.headers import upstream_request_headers
from jupyter_server_proxy.core.routing import (
    host_key,
    parse_host,
    parse_port,
    raw_suffix,
    upstream_target_uri,
)
from jupyter_server_proxy.core.wsframes import FrameScanner
from tests.wsframes import ws_frame_head

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- routing: never a target outside the allowlist ----------------------------------------

ALLOWLIST = ["localhost", "127.0.0.1", "[::1]"]

# Hosts an attacker would try: other spellings of loopback, userinfo, ports, paths, encodings,
# whitespace and Unicode look-alikes, mixed with plain noise.
_TRICKS = [
    "localhost",
    "127.0.0.1",
    "127.0.0.2",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "::1",
    "LOCALHOST",
    "localhost.",
    "localhost@evil",
    "evil@localhost",
    "localhost:80",
    "localhost/x",
    "localhost%2f",
    "local\u0127host",
    "ｌｏｃａｌｈｏｓｔ",
    "localhost\x00.evil",
    " localhost",
    "localhost\t",
    "evil.com#localhost",
    "evil.com?localhost",
    "0.0.0.0",
    "[0:0:0:0:0:0:0:1]",
]
hosts = st.one_of(
    st.sampled_from(_TRICKS),
    st.text(max_size=40),
    st.builds(
        lambda a, sep, b: a + sep + b,
        st.sampled_from(_TRICKS),
        st.sampled_from(["@", ":", "/", "\\", "%40", ".", "#", "?", "\r\n", " "]),
        st.sampled_from(_TRICKS + ["evil.example", "127.0.0.3"]),
    ),
)


def _authorize(host: str, port: str) -> tuple[str, int]:
    """What the handlers do with a ``host:port`` from a URL (``HandlerBase._target``): the
    allowlist first, about the host as the URL names it, then the syntax."""
    if not allowlist_of(ALLOWLIST).allows(host_key(host), port):
        raise HostNotAllowed(f"{host!r} is not allowed")
    return parse_host(host), parse_port(port)


@FAST
@given(host=hosts, port=st.one_of(st.integers(-5, 70000).map(str), st.text(max_size=8)))
@example(host="127.0.0.1", port="٣")
@example(host="localhost", port="08080")
def test_a_target_that_passes_is_one_of_the_allowlist(host: str, port: str) -> None:
    """Whatever host and port a URL names, either the request is refused with BadTarget or
    HostNotAllowed (404/400 or 403), or the target is exactly an allowlisted host (IPv6 literal
    compared as an address) on a port in 1..65535: no userinfo, path, or second host rides along."""
    try:
        checked, number = _authorize(host, port)
    except (BadTarget, HostNotAllowed):
        return
    assert checked.lower() in {h.strip("[]").lower() for h in ALLOWLIST}, checked
    assert 0 < number < 65536 and port.isascii()


CLUSTER = ["10.0.0.0/8:8787", "fd00::/8", "*.svc.cluster.local:8000-8999"]


@FAST
@given(host=st.one_of(hosts, st.ip_addresses().map(str)), port=st.integers(0, 70000).map(str))
@example(host="10.1.2.3", port="8787")
@example(host="a.svc.cluster.local", port="8000")
@example(host="svc.cluster.local", port="8000")
@example(host="a.svc.cluster.local.evil", port="8000")
def test_a_target_that_passes_network_and_suffix_entries_lies_within_them(
    host: str, port: str
) -> None:
    """With network and suffix entries, a target that passes as written is an address in a
    listed network, or a valid name under a listed suffix, on a port its entry allows."""
    if not allowlist_of(CLUSTER).allows(host_key(host), port):
        return
    try:
        checked, number = parse_host(host), parse_port(port)
    except BadTarget:
        return
    try:
        address = ipaddress.ip_address(checked)
    except ValueError:
        assert checked.endswith(".svc.cluster.local") and 8000 <= number <= 8999, (host, port)
    else:
        in_v4 = address in ipaddress.ip_network("10.0.0.0/8") and number == 8787
        assert in_v4 or address in ipaddress.ip_network("fd00::/8"), (host, port)


@FAST
@given(host=hosts)
@example(host="::1%x\r\nX: y")
@example(host="[::1%40evil]")
def test_host_parsing_never_lets_a_delimiter_through(host: str) -> None:
    """A parsed host has nothing in it that could end the authority in a URL or a header line."""
    try:
        checked = parse_host(host)
    except BadTarget:
        return
    assert not set(checked) & set("@/\\?#% \t\r\n\x00[]"), checked
    assert checked.isascii()


# Raw paths as tornado hands them over: printable ASCII without spaces, percent-escapes allowed.
raw_paths = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@%/", max_size=12),
    max_size=5,
).map(lambda parts: "/" + "/".join(parts))


@FAST
@given(prefix=raw_paths, tail=raw_paths, query=st.text(max_size=20))
def test_the_upstream_target_is_always_origin_form(prefix: str, tail: str, query: str) -> None:
    """The request-target sent to a backend starts with ``/`` (RFC 9112 §3.2.1 origin-form): no
    authority can be smuggled in front of it (the peer's GHSA-gcv9-6737-pjqw built
    ``http://host:port`` + path, so a path starting with ``@evil`` changed the host)."""
    raw = prefix + tail
    try:
        decoded = unquote(tail, errors="strict")
    except UnicodeDecodeError:
        assume(False)
    suffix = raw_suffix(raw, decoded)
    uri = upstream_target_uri(suffix, query)
    assert uri.startswith("/")
    assert not uri.startswith("//") or suffix.startswith("//")
    assert unquote(uri.split("?", 1)[0]) == (decoded if decoded.startswith("/") else "/" + decoded)


@FAST
@given(decoded=st.text(min_size=1, max_size=30))
def test_a_rewritten_path_is_reencoded_into_safe_characters(decoded: str) -> None:
    """When the raw path no longer holds the argument (a subclass rewrote it), the argument is
    re-encoded: no space, CR, LF or non-ASCII byte reaches the request line."""
    suffix = raw_suffix("/elsewhere", "/" + decoded)
    assert re.fullmatch(r"[\x21-\x7e]*", suffix), suffix
    assert unquote(suffix) == "/" + decoded


# -- headers: no credential of Jupyter's reaches a backend ---------------------------------

TOKEN = "s3cr3t" + "f00d" * 8
LOGIN_COOKIE = "username-127-0-0-1-8888"
JUPYTER_COOKIES = ("username-", "jupyterhub-", "__Host-jupyterhub-")

_spaces = st.text(alphabet=" \t", min_size=1, max_size=3)
_scheme = st.sampled_from(["token", "bearer"]).flatmap(
    lambda s: st.lists(st.booleans(), min_size=len(s), max_size=len(s)).map(
        lambda ups: "".join(c.upper() if u else c for c, u in zip(s, ups, strict=True))
    )
)
jupyter_authorization = st.builds(
    lambda lead, scheme, gap, trail: lead + scheme + gap + TOKEN + trail,
    st.text(alphabet=" \t", max_size=2),
    _scheme,
    _spaces,
    st.text(alphabet=" \t", max_size=2),
)
_cookie_value = st.text(alphabet=string.ascii_letters + string.digits + '|:._-"', max_size=12)
jupyter_cookie = st.one_of(
    st.just(LOGIN_COOKIE),
    st.from_regex(r"username-[A-Za-z0-9-]{1,20}", fullmatch=True),
    st.from_regex(r"(__Host-)?jupyterhub-[a-z0-9-]{0,20}", fullmatch=True),
).flatmap(lambda name: _cookie_value.map(lambda v: (name, v)))
app_cookie = (
    st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
    .filter(lambda n: not n.startswith(("username-", "jupyterhub-")))
    .flatmap(lambda name: _cookie_value.map(lambda v: (name, v)))
)


@st.composite
def requests_with_credentials(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[str]]:
    """Request headers that carry Jupyter credentials anywhere (several Cookie headers, each
    with Jupyter's cookies in any position and any spacing) plus an app's own cookies, which
    must all arrive."""
    headers: list[tuple[str, str]] = []
    kept_cookies: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        pairs = draw(st.lists(st.one_of(jupyter_cookie, app_cookie), min_size=1, max_size=5))
        sep = draw(st.sampled_from([";", "; ", " ;  ", ";\t"]))
        headers.append(
            (
                draw(st.sampled_from(["Cookie", "cookie", "COOKIE"])),
                sep.join(f"{n}={v}" for n, v in pairs),
            )
        )
        kept_cookies += [f"{n}={v}" for n, v in pairs if not n.startswith(JUPYTER_COOKIES)]
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["Authorization", "authorization", "AUTHORIZATION"]))
        headers.append((name, draw(jupyter_authorization)))
    headers.append(("X-App", "kept"))
    return draw(st.permutations(headers)), kept_cookies


@FAST
@given(case=requests_with_credentials())
@example(case=([("Authorization", "token\t" + TOKEN), ("X-App", "kept")], []))
@example(case=([("Authorization", "Bearer\t" + TOKEN), ("X-App", "kept")], []))
def test_no_jupyter_credential_reaches_a_backend(
    case: tuple[list[tuple[str, str]], list[str]],
) -> None:
    """Whatever the case, spacing, order or repetition: Jupyter's token (in Authorization,
    whichever separator jupyter_server accepts: its pattern is ``(token|bearer)\\s+``), its
    login cookies (``username-*``) and JupyterHub's cookies (``jupyterhub-*``) are removed; the
    app's own cookies and headers all arrive (GHSA-q52h-2389-h4hv: a user listening on a port
    harvested the session of whoever visited /proxy/<port>/)."""
    headers, kept_cookies = case
    out = upstream_request_headers(
        headers, context_path="/proxy/1", server_token=TOKEN, login_cookie=LOGIN_COOKIE
    )
    for name, value in out:
        assert TOKEN not in value, (name, value)
        if name.lower() == "cookie":
            for part in value.split(";"):
                cname = part.split("=", 1)[0].strip()
                assert not cname.startswith(JUPYTER_COOKIES)
    arrived = [
        p.strip() for n, v in out if n.lower() == "cookie" for p in v.split(";") if p.strip()
    ]
    assert sorted(arrived) == sorted(c.strip() for c in kept_cookies)
    assert ("X-App", "kept") in out


@FAST
@given(
    params=st.lists(
        st.one_of(
            st.just(("token", TOKEN)),
            st.just(("tok%65n", quote(TOKEN))),
            st.tuples(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), st.text(max_size=8)),
        ),
        max_size=5,
    )
)
def test_the_token_query_argument_never_reaches_a_backend(params: list[tuple[str, str]]) -> None:
    """``?token=<the server's token>`` is removed however it is spelled; every other argument
    keeps its exact bytes and order."""
    from jupyter_server_proxy.core.headers import strip_token_query

    query = "&".join(f"{n}={quote(v, safe='%') if n != 'tok%65n' else v}" for n, v in params)
    out = strip_token_query(query, TOKEN)
    for part in out.split("&") if out else []:
        name, _, value = part.partition("=")
        assert not (unquote_plus(name) == "token" and unquote_plus(value) == TOKEN)
    expected = [
        p
        for p in (query.split("&") if query else [])
        if not (
            unquote_plus(p.partition("=")[0]) == "token"
            and unquote_plus(p.partition("=")[2]) == TOKEN
        )
    ]
    assert out == "&".join(expected)


# -- error pages: nothing reflected unescaped ---------------------------------------------


class _Markup(html.parser.HTMLParser):
    """Collects the tags and attributes a browser would see in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def _markup(page: str) -> _Markup:
    parser = _Markup()
    parser.feed(page)
    parser.close()
    return parser


_PAGE_TAGS = _markup(error_html(UpstreamUnavailable("x"))).tags
_hostile = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            '"><img src=x onerror=alert(1)>',
            "</pre><script>x</script>",
            "' onmouseover='alert(1)",
            "<svg/onload=alert(1)>",
            "&lt;script&gt;",
            "</title><script>1</script>",
        ]
    ),
)


@FAST
@given(message=_hostile, log=st.lists(_hostile, max_size=4), command=st.lists(_hostile, max_size=3))
def test_error_pages_reflect_nothing_unescaped(
    message: str, log: list[str], command: list[str]
) -> None:
    """An error page shows whatever text it is given as text: the page's tags and attributes are
    the template's own, whatever a path, an app's name, command or log contains (the peer's
    GHSA-fvcq-4x64-hqxr echoed a host from the URL into its page)."""
    for error in (
        UpstreamUnavailable(message),
        UpstreamTimeout(message),
        BadTarget(message),
        AppFailed(message, message, command=command, exit_code=3, log_tail=log),
    ):
        page = error_html(error)
        found = _markup(page)
        assert set(found.tags) <= set(_PAGE_TAGS) | {"code", "pre"}, found.tags
        assert found.attrs == [("lang", "en"), ("charset", "utf-8"), ("class", "muted")]
        assert error.message in (message, f"{message}: {message}")


@FAST
@given(title=_hostile, url=_hostile, xsrf=_hostile)
def test_the_starting_page_reflects_nothing_unescaped(title: str, url: str, xsrf: str) -> None:
    """The "starting…" page carries an app's title and URLs only as text and as data attributes
    whose values come back exactly as given."""
    page = starting_html(title, url, xsrf)
    found = _markup(page)
    assert found.tags == _markup(starting_html("t", "/u", "x")).tags
    attrs = dict(found.attrs)
    assert (attrs["data-start"], attrs["data-xsrf"]) == (url, xsrf)


# -- websocket frames: any bytes, from either side ------------------------------------------


@st.composite
def frames(draw: st.DrawFn, masked: bool) -> bytes:
    """A run of frames, mostly well formed; any header field may be wrong, and lengths reach
    the 64-bit range (2^63 and past)."""
    out = b""
    for _ in range(draw(st.integers(0, 6))):
        first = draw(
            st.one_of(
                st.sampled_from([0x81, 0x82, 0x01, 0x80, 0x88, 0x89, 0x8A]), st.integers(0, 255)
            )
        )
        n = draw(
            st.one_of(
                st.integers(0, 130),
                st.integers(0, 70000),
                st.just(1 << 63),
                st.integers(0, (1 << 64) - 1),
            )
        )
        right = draw(st.integers(0, 9)) > 0  # the mask bit is usually the right one
        bit = masked == right
        head = ws_frame_head(first, n, masked=bit)
        out += head + (os.urandom(4) if bit else b"") + b"p" * min(n, draw(st.integers(0, 300)))
    return out


@st.composite
def streams(draw: st.DrawFn, masked: bool) -> list[bytes]:
    """Random bytes or a run of frames, cut into reads at random places."""
    data = draw(st.one_of(st.binary(max_size=400), frames(masked)))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


LIMIT = 4096


@pytest.mark.parametrize("from_client", [True, False], ids=["client", "backend"])
@FAST
@given(data=st.data())
def test_the_frame_scanner_survives_any_bytes(from_client: bool, data: st.DataObject) -> None:
    """Any bytes, cut anywhere, never crash the scanner; what it forwards is a prefix of what it
    got; after a refusal nothing more is forwarded; and no message over the limit is forwarded
    whole (its header is refused before any of its payload)."""
    chunks = data.draw(streams(from_client))
    scanner = FrameScanner(from_client=from_client, max_message_size=LIMIT)
    given_so_far = b""
    forwarded = b""
    refused = None
    for chunk in chunks:
        given_so_far += chunk
        out, refusal = scanner.feed(chunk)
        forwarded += out
        assert given_so_far.startswith(forwarded)
        if refusal is not None:
            refused = refusal
            assert refusal.code in (1002, 1009)
            break
    if refused is None:
        assert len(given_so_far) - len(forwarded) < 14  # at most one unfinished header held
    _check_forwarded_frames(forwarded, from_client)


def _check_forwarded_frames(forwarded: bytes, from_client: bool) -> None:
    """Every frame header among the forwarded bytes obeys the rules and the size limit."""
    pos, message = 0, 0
    while pos + 2 <= len(forwarded):
        first, second = forwarded[pos], forwarded[pos + 1]
        n = second & 0x7F
        size = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        if pos + size > len(forwarded):
            raise AssertionError("a header was forwarded incomplete")
        if n == 126:
            n = int.from_bytes(forwarded[pos + 2 : pos + 4], "big")
        elif n == 127:
            n = int.from_bytes(forwarded[pos + 2 : pos + 10], "big")
        assert bool(second & 0x80) == from_client
        assert not first & 0x70
        opcode = first & 0x0F
        if opcode in (0x8, 0x9, 0xA):
            assert first & 0x80 and n <= 125
        else:
            assert opcode in (0x0, 0x1, 0x2)
            message = n if opcode else message + n
            assert message <= LIMIT
        pos += size + (4 if second & 0x80 else 0) + n
