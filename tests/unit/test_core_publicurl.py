"""Public paths and URLs (``core/publicurl.py``), the ``c.ServerProxy.public_url`` trait, and
what ``launch.py`` gives an app: its environment and the ``{public_url}`` template."""

from __future__ import annotations

import pytest
from traitlets import TraitError

import jupyter_server_proxy
from jupyter_server_proxy.apps.config import ServerProxy
from jupyter_server_proxy.apps.launch import command_and_environment
from jupyter_server_proxy.apps.validation import validate_spec
from jupyter_server_proxy.core.publicurl import (
    PREFIX_VAR,
    TEMPLATE_VAR,
    URL_VAR,
    BadPublicURL,
    PublicLocation,
    PublicURLUnavailable,
    check_public_url,
    port_template,
    public_url,
    server_root,
)
from jupyter_server_proxy.core.routing import Target

HUB = "JUPYTERHUB_PUBLIC_URL"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("", ""),
        ("https://hub.example.org", "https://hub.example.org"),
        ("https://hub.example.org/", "https://hub.example.org"),
        ("http://127.0.0.1:8888", "http://127.0.0.1:8888"),
        ("https://[fd00::5]:8443/", "https://[fd00::5]:8443"),
        ("https://example.org/lab1/", "https://example.org/lab1"),
    ],
)
def test_a_public_url_is_kept_without_its_trailing_slash(given: str, kept: str) -> None:
    """A scheme, a host, an optional port and an optional path; one form, no trailing slash."""
    assert check_public_url(given) == kept


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("hub.example.org", "scheme"),
        ("//hub.example.org", "scheme"),
        ("ftp://hub.example.org", "scheme"),
        ("https://", "no host"),
        ("https://hub.example.org:99999", "not a URL"),
        ("https://hub.example.org:port", "not a URL"),
        ("https://alice:pw@hub.example.org", "password"),
        ("https://hub.example.org/?x=1", "query"),
        ("https://hub.example.org/#top", "query or fragment"),
    ],
)
def test_a_bad_public_url_is_refused_saying_why(given: str, says: str) -> None:
    with pytest.raises(BadPublicURL, match=says):
        check_public_url(given)


def test_the_trait_refuses_a_bad_value_naming_itself() -> None:
    """A bad ``c.ServerProxy.public_url`` is an error when the config is read, naming it."""
    with pytest.raises(TraitError, match=r"ServerProxy\.public_url: .*needs a scheme"):
        ServerProxy(public_url="hub.example.org")
    assert ServerProxy(public_url="https://hub.example.org/").public_url == (
        "https://hub.example.org"
    )
    assert ServerProxy().public_url == ""


@pytest.mark.parametrize("base_url", ["/", "/user/alice/"])
def test_without_an_origin_only_paths_are_known(base_url: str) -> None:
    root, unused = server_root(base_url, "", env={})
    assert (root, unused) == (PublicLocation(base_url), None)
    assert root.under("rstudio/") == PublicLocation(base_url + "rstudio/")
    assert root.under("rstudio/").best == base_url + "rstudio/"
    assert port_template(root) == base_url + "proxy/{port}/"


def test_the_configured_origin_goes_in_front_of_base_url() -> None:
    """``public_url`` is the server's root: ``base_url`` is appended to it."""
    root, _ = server_root("/user/alice/", "https://hub.example.org", env={})
    app = root.under("rstudio/")
    assert app.path == "/user/alice/rstudio/"
    assert app.url == app.best == "https://hub.example.org/user/alice/rstudio/"
    assert port_template(root) == "https://hub.example.org/user/alice/proxy/{port}/"
    behind, _ = server_root("/", "https://example.org/lab1", env={})
    assert port_template(behind) == "https://example.org/lab1/proxy/{port}/"


def test_the_hubs_public_url_is_the_servers_base_url() -> None:
    """JupyterHub (>= 5) gives the public URL of the server's ``base_url`` itself."""
    env = {HUB: "https://hub.example.org/user/alice/"}
    root, unused = server_root("/user/alice/", "", env=env)
    assert unused is None
    assert root.url == "https://hub.example.org/user/alice/"
    assert port_template(root) == "https://hub.example.org/user/alice/proxy/{port}/"
    # Subdomains: the user's own host.
    env = {HUB: "https://alice.hub.example.org/user/alice/"}
    assert server_root("/user/alice/", "", env=env)[0].under("x/").url == (
        "https://alice.hub.example.org/user/alice/x/"
    )


def test_the_configured_origin_wins_over_the_hubs() -> None:
    env = {HUB: "https://hub.example.org/user/alice/"}
    root, _ = server_root("/user/alice/", "https://other.example.org", env=env)
    assert root.url == "https://other.example.org/user/alice/"


def test_an_empty_hub_url_means_unknown() -> None:
    """JupyterHub sets the variable empty when it knows no public URL."""
    assert server_root("/user/alice/", "", env={HUB: ""}) == (PublicLocation("/user/alice/"), None)


def test_a_hub_url_for_another_base_url_is_not_used() -> None:
    """A server started by hand inside a Hub session inherits the Hub's variable, which
    describes the session's server, not this one."""
    env = {HUB: "https://hub.example.org/user/alice/"}
    root, unused = server_root("/", "", env=env)
    assert root == PublicLocation("/")
    assert unused is not None and "is not this server's base_url" in unused


def test_a_malformed_hub_url_is_not_used() -> None:
    root, unused = server_root("/user/alice/", "", env={HUB: "hub.example.org/user/alice/"})
    assert root == PublicLocation("/user/alice/")
    assert unused is not None and HUB in unused


def test_public_url_fills_the_template_in() -> None:
    env = {TEMPLATE_VAR: "https://hub.example.org/user/alice/proxy/{port}/"}
    assert public_url(8050, env) == "https://hub.example.org/user/alice/proxy/8050/"
    assert public_url("8050", env) == "https://hub.example.org/user/alice/proxy/8050/"
    assert public_url(80, {TEMPLATE_VAR: "/proxy/{port}/"}) == "/proxy/80/"


@pytest.mark.parametrize("port", [0, 65536, -1, "80a", "", " 80", True, 80.0])
def test_public_url_refuses_what_is_not_a_port(port: object) -> None:
    with pytest.raises(ValueError, match="port must be a number"):
        public_url(port, {TEMPLATE_VAR: "/proxy/{port}/"})  # type: ignore[arg-type]


def test_public_url_outside_a_server_started_kernel_names_the_variable() -> None:
    with pytest.raises(PublicURLUnavailable, match=TEMPLATE_VAR):
        public_url(8050, {})


def test_public_url_is_in_the_package_namespace() -> None:
    assert jupyter_server_proxy.public_url is public_url


def _launch(raw: dict[str, object], public: PublicLocation | None = None, base_url: str = "/"):
    spec, _ = validate_spec("app", raw, "test")
    return command_and_environment(spec, Target(host="127.0.0.1", port=8050), base_url, public)


def test_an_app_is_told_its_public_path_and_url() -> None:
    public = PublicLocation("/user/alice/app/", "https://hub.example.org/user/alice/app/")
    command, env = _launch(
        {"command": ["run", "--url={public_url}"], "environment": {"MINE": "{public_url}"}},
        public,
        "/user/alice/",
    )
    assert command == ["run", "--url=https://hub.example.org/user/alice/app/"]
    assert env == {
        PREFIX_VAR: "/user/alice/app/",
        URL_VAR: "https://hub.example.org/user/alice/app/",
        "MINE": "https://hub.example.org/user/alice/app/",
    }


def test_without_an_origin_an_app_gets_its_path_and_no_url() -> None:
    """``{public_url}`` is then the path; ``JUPYTER_SERVER_PROXY_URL`` is not set."""
    command, env = _launch({"command": ["run", "{public_url}"]}, base_url="/user/alice/")
    assert command == ["run", "/user/alice/app/"]
    assert env == {PREFIX_VAR: "/user/alice/app/"}


def test_a_callable_may_ask_for_public_url_and_the_spec_may_override() -> None:
    public = PublicLocation("/app/", "https://example.org/app/")
    command, env = _launch(
        {
            "command": lambda port, public_url: ["run", str(port), public_url],
            "environment": {PREFIX_VAR: "/elsewhere/"},
        },
        public,
    )
    assert command == ["run", "8050", "https://example.org/app/"]
    assert env[PREFIX_VAR] == "/elsewhere/"
