"""Relaying websockets between two connected sides: the pipe that scans and forwards frames,
the sides over plain sockets, the relay thread's event loop, and the engine that owns the pools
and the websockets in flight. Plain asyncio: no tornado (the web layer hands it the client's
socket)."""
