"""Error and "Starting…" pages: everything that can come from a request, an app or a log is
escaped, and the starting page's script reads its inputs only from data attributes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from jupyter_server_proxy.core.errorpage import (
    error_html,
    error_json,
    json_text,
    starting_html,
    wants_json,
)
from jupyter_server_proxy.core.errors import AppFailed, UpstreamUnavailable


def test_error_page_escapes_message_and_log() -> None:
    error = AppFailed("<app>", "exited", command=["run", "<x>"], log_tail=["<script>"], exit_code=3)
    page = error_html(error)
    assert "<script>" not in page.split("</style>")[1]
    assert (
        "&lt;app&gt;" in page and "&lt;script&gt;" in page and "Exit code: <code>3</code>" in page
    )
    assert error_json(error)["exit_code"] == 3 and error_json(error)["log_tail"] == ["<script>"]


def test_proxy_error_page_names_the_cause() -> None:
    page = error_html(UpstreamUnavailable('could not connect to "h<1>"'))
    assert "502 Bad gateway" in page and "h&lt;1&gt;" in page


def test_starting_page_escapes_and_keeps_inputs_out_of_the_script() -> None:
    page = starting_html('Slow <App> "1"', '/a"b/server-proxy/api/servers/x', 'tok"<')
    assert "Starting Slow &lt;App&gt; &quot;1&quot;…" in page
    assert 'data-start="/a&quot;b/server-proxy/api/servers/x"' in page
    assert 'data-xsrf="tok&quot;&lt;"' in page
    script = page.split("<script>")[1].split("</script>")[0]
    assert "/a" not in script and "tok" not in script


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_starting_page_script_parses(tmp_path: Path) -> None:
    """The script is valid JavaScript once the template is filled in (a brace or escape of
    the Python template gone wrong would only show in a browser, as a dead page)."""
    page = starting_html("App", "/server-proxy/api/servers/x", "tok")
    script = tmp_path / "starting.js"
    script.write_text(page.split("<script>")[1].split("</script>")[0])
    checked = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("accept", "authorization", "expected"),
    [
        ("text/html,application/xhtml+xml,*/*;q=0.8", None, False),  # a browser's page load
        ("*/*", None, False),  # a page's fetch() with the login cookie
        ("application/json", None, True),
        ("application/json, text/html;q=0.5", None, True),
        ("text/html, application/json", "token abc", False),
        ("*/*", "token abc", True),  # curl or requests with a token
        (None, "token abc", True),
        (None, None, False),
    ],
)
def test_wants_json(accept: str | None, authorization: str | None, expected: bool) -> None:
    """API clients get JSON: they ask for it first, or send a token and ask for no HTML."""
    assert wants_json(accept, authorization) is expected


def test_json_text_escapes_markup_and_round_trips() -> None:
    body = {"message": "'<script>' & more"}
    text = json_text(body)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == body
