"""The pure core of the proxy: plain functions on plain data, no tornado and no I/O.

Rule: nothing in this package imports tornado, aiohttp or asyncio. Handlers translate between
the web framework and these functions, so every rule here can be unit-tested exhaustively.
"""
