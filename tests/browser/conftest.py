"""Real-browser fixtures: JupyterLab / Notebook 7 / nbclassic servers and Debian's chromium,
driven by Playwright (never a browser Playwright downloads)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import JupyterServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The browser tests' screenshots land here, out of git's way, so a test run leaves the working
#: tree clean; ``scripts/screenshots.sh`` copies them into docs/_static when they should change.
SCREENSHOTS = Path(__file__).parents[2] / "build" / "screenshots"
#: The labextension as ``npm run build:prod`` (or ``pip install -e .``) writes it in this
#: checkout. When it exists, the test servers load it instead of the installed copy, so the
#: browser tests always test this checkout's frontend.
LOCAL_LABEXTENSION = Path(__file__).parents[2] / "jupyter_server_proxy" / "labextension"
LABEXTENSION_NAME = "@jupyterhub/jupyter-server-proxy"


def local_labextension_config(root: Path) -> str:
    """Config that makes Lab and Notebook 7 load this checkout's build, if there is one.

    ``extra_labextensions_path`` is searched before the installed paths, and the first
    extension of a name wins; it wants the ``<path>/@org/name/package.json`` layout, hence
    the symlink."""
    if not (LOCAL_LABEXTENSION / "package.json").is_file():
        return ""
    path = root / "labextensions"
    link = path / LABEXTENSION_NAME
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(LOCAL_LABEXTENSION, target_is_directory=True)
    return f"\nc.LabServerApp.extra_labextensions_path = [{str(path)!r}]\n"


def lab_server(
    root: Path,
    config: str,
    app: str = "jupyterlab",
    base_url: str = "/",
    workspaces: Path | None = None,
) -> JupyterServer:
    """A Lab (or Notebook/nbclassic) server with isolated settings and no news popup; its
    saved workspaces in ``root/workspaces``, or in ``workspaces`` (another server's)."""
    settings = root / "settings"
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    workspaces = workspaces or root / "workspaces"
    workspaces.mkdir(parents=True, exist_ok=True)
    args = (
        [
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={workspaces}",
        ]
        if app in ("jupyterlab", "notebook")
        else []
    )
    if app in ("jupyterlab", "notebook"):
        config += local_labextension_config(root)
    server = JupyterServer(root, config, base_url, extra_args=args, module=app)
    return server.start()


# Module scope: Playwright's sync API keeps an event loop running on this thread while it is
# open, which would break asyncio.run() in the other test modules.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    pg = context.new_page()
    yield pg
    context.close()


def module_lab(config: str) -> Any:
    """A module-scoped fixture: one Lab server started with ``config`` for all of a module's
    browser tests. Use it as ``lab = module_lab(CONFIG)``."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
        s = lab_server(tmp_path_factory.mktemp("lab"), config)
        yield s
        s.stop()

    return fixture


def open_lab(page: Any, server: JupyterServer) -> None:
    """Lab in a workspace of its own, so one test's open tabs don't carry into the next."""
    page.goto(server.url(f"lab/workspaces/w{uuid.uuid4().hex[:8]}?reset&token={server.token}"))
