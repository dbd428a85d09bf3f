"""The standalone proxy's options are defined on a ``HasTraits`` mixin (``options.py``) and still
belong to the application: configured, parsed and written as ``c.StandaloneProxyServer.<name>``,
as in 4.x."""

from __future__ import annotations

from traitlets.config import Config

from jupyter_server_proxy.standalone import StandaloneProxyServer
from jupyter_server_proxy.standalone.options import StandaloneOptions


def test_config_and_command_line_set_the_options() -> None:
    """``c.StandaloneProxyServer.<option>`` in a config file and
    ``--StandaloneProxyServer.<option>`` on the command line both set an option, and the
    command after ``--`` is the app's."""
    config = Config()
    config.StandaloneProxyServer.server_port = 1234
    app = StandaloneProxyServer(config=config)
    app.initialize(["--StandaloneProxyServer.timeout=3", "--no-authentication", "--", "voila"])
    assert (app.server_port, app.timeout, app.command) == (1234, 3.0, ["voila"])
    assert not app.auth_enabled


def test_generate_config_writes_each_option_under_the_applications_name() -> None:
    """``--generate-config`` documents every option in the ``StandaloneProxyServer`` section with
    its full help, not as a pointer to another section."""
    text = StandaloneProxyServer().generate_config_file()
    for name, trait in StandaloneOptions.class_traits(config=True).items():
        assert f"# c.StandaloneProxyServer.{name} = " in text, name
        assert f"See also: StandaloneOptions.{name}" not in text
        opening = " ".join(trait.help.split()[:3])  # the help text, wrapped as it may be
        assert f"## {opening}" in text, name
