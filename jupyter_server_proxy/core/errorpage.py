"""The text of what a user sees when the proxy cannot deliver, with no I/O: the error page
(``error_html``), the same fields as JSON (``error_json``, ``status_json``, serialised by
``json_text``), the rule that picks between them (``wants_json``), and the "Starting…" page of
an app that is not running yet (``starting_html``). ``web/error_answers.py`` writes them.

Rule: every piece of text that may come from a request, an app or a log is escaped here, HTML
in pages and ``<``, ``>``, ``&`` in JSON (the peer's GHSA-fvcq-4x64-hqxr came from a path echoed
into an error page).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from .errors import AppFailed, ProxyError

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{status} {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; color: #222; }}
pre {{ background: #f4f4f4; padding: 1em; overflow: auto; white-space: pre-wrap; }}
.muted {{ color: #666; }}
</style></head>
<body>
<h1>{status} {title}</h1>
<p>{message}</p>
{extra}
<p class="muted">jupyter-server-proxy</p>
</body>
</html>
"""


def error_html(error: ProxyError) -> str:
    extra = []
    if isinstance(error, AppFailed):
        if error.command:
            extra.append(f"<p>Command: <code>{escape(' '.join(error.command))}</code></p>")
        if error.exit_code is not None:
            extra.append(f"<p>Exit code: <code>{error.exit_code}</code></p>")
    if error.details:
        extra.append("<p>Last lines of its log:</p>")
        extra.append(f"<pre>{escape(chr(10).join(error.details))}</pre>")
    return _PAGE.format(
        status=error.status,
        title=escape(error.title),
        message=escape(error.message),
        extra="\n".join(extra),
    )


def error_json(error: ProxyError) -> dict[str, Any]:
    body = status_json(error.status, error.title, error.message)
    if isinstance(error, AppFailed):
        body.update(
            app=error.app,
            reason=error.reason,
            command=list(error.command),
            exit_code=error.exit_code,
            log_tail=list(error.log_tail),
        )
    return body


def wants_json(accept: str | None, authorization: str | None = None) -> bool:
    """Whether an error goes to an API client (JSON) rather than a browser (the page).

    JSON when ``Accept`` ranks ``application/json`` ahead of ``text/html``, or when a client
    that does not ask for ``text/html`` at all authenticates with an ``Authorization`` header
    (a script with a token, such as ``curl -H "Authorization: token ..."``). A browser's page
    load always asks for ``text/html`` and logs in with a cookie, so it keeps the page."""
    accept = (accept or "").lower()
    j = accept.find("application/json")
    h = accept.find("text/html")
    if j >= 0:
        return h < 0 or j < h
    return h < 0 and bool(authorization)


def json_text(body: dict[str, Any]) -> str:
    """JSON with ``<``, ``>`` and ``&`` escaped (``\\u003c``...): the same document for a JSON
    parser, and nothing a browser could take for markup if it ever sniffed it as HTML, so the
    rule that no input is echoed unescaped holds for both kinds of answer."""
    text = json.dumps(body)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def status_json(status: int, title: str, message: str) -> dict[str, Any]:
    """The JSON form of an error that is not a ``ProxyError`` (a refused login, a wrong method),
    with the fields ``error_json`` gives every error."""
    return {"status": status, "title": title, "message": message}


_STARTING = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Starting {title}…</title>
<meta name="referrer" content="no-referrer">
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; color: #222; }}
pre {{ background: #f4f4f4; padding: 1em; overflow: auto; white-space: pre-wrap; }}
.muted {{ color: #666; }}
</style></head>
<body data-start="{start_url}" data-xsrf="{xsrf}">
<h1 id="headline">Starting {title}…</h1>
<p id="message">This page shows the app as soon as it is ready.</p>
<pre id="log" hidden></pre>
<p class="muted">jupyter-server-proxy</p>
<script>
// Values come from data attributes, never from text pasted into this script, and everything
// shown is set with textContent: nothing here is parsed as HTML. No Referer leaves this page
// (the meta tag above): its URL may carry Jupyter's login in its query, and the reload goes
// to the app.
//
// The POST joins the start the server began when it held this page's request (or begins one)
// and answers once the app is ready, or with why it failed. Its whole answer is read before
// the page reloads, so the request ends by itself rather than being cut off by the reload.
(function () {{
  var body = document.body;
  var message = document.getElementById("message");

  function showFailure(error, status) {{
    var title = error.title || "App failed to start";
    document.title = title;
    document.getElementById("headline").textContent = (error.status || status) + " " + title;
    var text = error.message || "";
    if (error.exit_code !== undefined && error.exit_code !== null) {{
      text += " (exit code " + error.exit_code + ")";
    }}
    message.textContent = text;
    if (error.log_tail && error.log_tail.length) {{
      var log = document.getElementById("log");
      log.textContent = error.log_tail.join("\\n");
      log.hidden = false;
    }}
  }}

  // No answer of ours (the connection dropped, a proxy in front gave up on a long request):
  // ask again, which joins the same start.
  function askAgain(why) {{
    message.textContent = "Still starting (" + why + "); asking the server again…";
    setTimeout(start, 2000);
  }}

  function start() {{
    fetch(body.dataset.start, {{
      method: "POST",
      credentials: "same-origin",
      headers: {{ "X-XSRFToken": body.dataset.xsrf, "Accept": "application/json" }}
    }}).then(function (response) {{
      return response.text().then(function (text) {{
        if (response.ok) {{ location.reload(); return; }}
        var error = null;
        try {{ error = JSON.parse(text); }} catch (e) {{ error = null; }}
        if (error && error.title) {{ showFailure(error, response.status); return; }}
        askAgain("the server answered " + response.status);
      }});
    }}).catch(function (e) {{
      askAgain(String(e));
    }});
  }}

  start();
}})();
</script>
</body>
</html>
"""


def starting_html(title: str, start_url: str, xsrf: str) -> str:
    """The page a browser gets when it navigates to an app that is still starting after the
    request was held for a while: it waits for the start through the lifecycle API (``POST``
    answers once the app is ready), then reloads, or shows why the app failed."""
    return _STARTING.format(
        title=escape(title), start_url=escape(start_url, quote=True), xsrf=escape(xsrf, quote=True)
    )
