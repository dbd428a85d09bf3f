"""The keys under which the extension keeps its objects in tornado's application settings.

One place, so that the extension that stores them and the handlers that read them agree.
"""

ENGINE_KEY = "server_proxy_engine"
MANAGER_KEY = "server_proxy_manager"
SPECS_KEY = "server_proxy_specs"
PROBLEMS_KEY = "server_proxy_problems"
