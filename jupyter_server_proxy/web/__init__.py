"""The tornado side: the handlers of the proxy routes and named apps (thin, over the HTTP
exchange in ``exchange.py``), taking a websocket client's connection over for the relay, the
REST API, the route table and the Jupyter server extension. The only layer that imports tornado
or jupyter_server's handlers."""
