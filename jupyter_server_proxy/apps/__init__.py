"""The apps layer: app specs and the processes that serve them.

Modules: ``config`` (``c.ServerProxy``, and the specs it and the plugins give); ``specs`` (the
validated ``ServerSpec``) and ``validation`` (a raw spec dict in, a ``ServerSpec`` out);
``manager`` (every app of a server), ``supervisor`` (one app's state machine), ``state`` (its
states and allowed transitions), ``launch`` (command, environment, port or socket, spawning),
``readiness`` (polling until the app answers), ``pathwatch`` (woken when a unix socket
appears), ``logtail`` (its stdout and stderr), ``proctree`` (every process of an app run, and
stopping them).

Imports run downward: this package uses ``transport`` (the readiness probe is a request through
the proxy's own client) and ``core``, never the web layer that uses it.
"""
