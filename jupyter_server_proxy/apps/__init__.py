"""The apps layer: app specs and the processes that serve them.

Modules: ``specs`` (the validated ``ServerSpec``) and ``validation`` (a raw spec dict in, a
``ServerSpec`` out); ``manager`` (every app of a server), ``supervisor`` (one app's state machine),
``state`` (its states and allowed transitions), ``launch`` (command, environment, port or socket,
spawning), ``readiness`` (polling until the app answers), ``logtail`` (its stdout and stderr),
``proctree`` (every process of an app run, and stopping them).

Imports run downward: this package uses the transport (``upstream``) and ``core``, never the
handlers, the API or the config that use it.
"""
