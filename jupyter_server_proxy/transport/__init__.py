"""The proxy's HTTP/1.1 client to backends, over TCP and unix sockets, plain or TLS.

- ``pool.py``: ``Upstream``, the keep-alive pools and ``request``; its settings.
- ``connection.py``: one backend connection and its exchange; ``reading.py``: the states of an
  exchange and reading the answer, with backpressure.
- ``response.py``: what ``request`` returns, the head at once and the body on demand.
- ``framing.py``: how an answer's body is delimited, and the framing we refuse.
- ``errors.py``: I/O and protocol failures turned into our error types, in one place.
- ``connect.py``: opening a connection to a backend (also used by the websocket and raw
  socket bridges); ``loopback.py``: the congestion control of loopback connections;
  ``timelimit.py``: a time limit on an await that keeps a cancel; ``tls.py``: TLS contexts
  for backends and TLS failures as our errors.
- ``upload.py``: a request body on its way from the client to the backend, a bounded channel.
"""
