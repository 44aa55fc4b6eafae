"""The live web dashboard: a ZeroMQ subscriber, per-camera state, and a page fed over WebSocket.

``feed`` reads the bus, ``state`` keeps what the page shows, ``app`` serves the page, the JSON
endpoints and the WebSocket, ``server`` binds the port and runs uvicorn.
"""
