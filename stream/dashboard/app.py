"""The dashboard's ASGI app: the page, ``/api/state``, ``/api/history``, ``/healthz``, ``/ws``.

With credentials, :class:`~stream.dashboard.auth.RequireAuth` guards all of them but ``/healthz``
and adds ``/login`` and ``/logout``.

Each WebSocket client gets the newest full state, at most ``PUSH_INTERVAL_S`` apart and at least
once a second (so "stale" appears without new messages). A slow browser only delays itself: it
skips the states it was too slow for instead of queueing them.

``/api/history?window=hour|day`` answers from the history store (``--db``), off the event loop
and cached for ``HISTORY_CACHE_S``: every open page polls it, and a day's query reads every face
row of the day.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from stream.dashboard.auth import Credentials, FailureLimiter, RequireAuth
from stream.dashboard.feed import Feed
from stream.dashboard.state import DashboardState
from stream.store.database import StoreError
from stream.store.history import WINDOWS_S, History

logger = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
PUSH_INTERVAL_S = 0.1
IDLE_PUSH_S = 1.0
HISTORY_CACHE_S = 5.0


class Changes:
    """Wakes the WebSocket senders when the state's version moves on."""

    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_past(self, version: int, timeout: float) -> None:
        """Return once the state is newer than ``version``, or after ``timeout`` seconds."""
        event = self._event
        if self.state.version != version:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


class HistoryCache:
    """The newest answer per window, refreshed in a worker thread when older than the cache."""

    def __init__(self, history: History) -> None:
        self.history = history
        self._answers: dict[str, tuple[float, dict]] = {}
        self._lock = asyncio.Lock()

    async def window(self, name: str) -> dict:
        async with self._lock:
            cached = self._answers.get(name)
            if cached is None or time.monotonic() - cached[0] > HISTORY_CACHE_S:
                answer = await asyncio.to_thread(self.history.window, name)
                cached = self._answers[name] = (time.monotonic(), answer)
            return cached[1]


def create_app(
    state: DashboardState,
    feed: Feed,
    clock: Callable[[], float] = time.time,
    history: History | None = None,
    credentials: Credentials | None = None,
    limiter: FailureLimiter | None = None,
) -> Starlette:
    """The app; its lifespan runs ``feed`` into ``state`` and closes the feed on shutdown.

    With ``credentials`` every route but ``/healthz`` and the sign-in needs them (see
    :mod:`stream.dashboard.auth`); without, the app is open, which the command allows on
    loopback only.
    """
    changes = Changes(state)
    cache = HistoryCache(history) if history is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(feed.run(state, changes.notify), name="dashboard-feed")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            feed.close()

    async def index(_: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def api_state(_: Request) -> Response:
        return JSONResponse(state.snapshot(clock()))

    async def api_history(request: Request) -> Response:
        if cache is None:
            return JSONResponse({"error": "no history store (dashboard --db)"}, status_code=404)
        name = request.query_params.get("window", "hour")
        if name not in WINDOWS_S:
            return JSONResponse(
                {"error": f"window must be one of {', '.join(WINDOWS_S)}"}, status_code=400
            )
        try:
            return JSONResponse(await cache.window(name))
        except StoreError as exc:
            logger.warning("history: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=503)

    async def healthz(_: Request) -> Response:
        return JSONResponse(state.health())

    async def preview(request: Request) -> Response:
        camera = state.cameras.get(request.path_params["camera"])
        if camera is None or camera.preview is None:
            return JSONResponse({"error": "no preview for this camera"}, status_code=404)
        return Response(
            camera.preview, media_type="image/jpeg", headers={"Cache-Control": "no-store"}
        )

    async def push(websocket: WebSocket) -> None:
        await websocket.accept()
        sent = -1
        try:
            while True:
                await changes.wait_past(sent, IDLE_PUSH_S)
                sent = state.version
                await websocket.send_text(json.dumps(state.snapshot(clock())))
                await asyncio.sleep(PUSH_INTERVAL_S)
        except WebSocketDisconnect:
            logger.debug("browser went away")

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/state", api_state),
            Route("/api/history", api_history),
            Route("/api/preview/{camera:path}", preview),
            Route("/healthz", healthz),
            WebSocketRoute("/ws", push),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
        middleware=[Middleware(RequireAuth, credentials=credentials, limiter=limiter)]
        if credentials is not None
        else [],
    )
