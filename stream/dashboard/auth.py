"""Who may read the dashboard: one secret token, a signed session cookie, and a limit on guessing.

The pages hold people's faces and expressions, so beyond loopback the dashboard needs
credentials, in the way Jupyter's server does it: a random token kept in a file only its owner can
read; programs send it as ``Authorization: Bearer TOKEN``; a browser signs in once at ``/login``
and gets a session cookie instead, so the token never sits in a URL, a bookmark or a log.

The cookie is stateless: ``<issued>.<nonce>.<hmac>``, signed with a key derived from the token.
A restart of the dashboard keeps browsers signed in, a new token signs every browser out, and no
session table needs a lock or a purge. Comparisons are constant-time (:func:`hmac.compare_digest`),
so a guesser learns nothing from response times; wrong tokens are counted per client address
and, past a few a minute, answered 429 without being checked at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from stream.errors import EmostreamError

log = logging.getLogger(__name__)

SESSION_COOKIE = "emostream_session"
SESSION_MAX_AGE_S = 7 * 86400
MIN_TOKEN_CHARS = 16
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
MAX_LOGIN_BODY = 4096
TOO_MANY = "too many wrong tokens"
OPEN_PATHS = frozenset({"/healthz", "/login", "/logout"})
"""Routes anyone may reach: the health check holds no personal data, the others sign in and out."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class AuthError(EmostreamError):
    """A token file that is missing, empty, too short or readable by others."""


def read_token(path: Path) -> str:
    """The token in ``path``'s first line, refusing a file that others could read too."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthError(
            f"no token file {path} (emostream dashboard --new-token {path} makes one)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"cannot read token file {path}: {exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthError(
            f"token file {path} is open to group or others (mode {stat.S_IMODE(mode):03o}); "
            f"run: chmod 600 {path}"
        )
    lines = text.splitlines()
    token = lines[0].strip() if lines else ""
    if len(token) < MIN_TOKEN_CHARS:
        raise AuthError(
            f"token file {path} needs a token of at least {MIN_TOKEN_CHARS} characters on its "
            "first line"
        )
    return token


def write_token(path: Path) -> str:
    """A fresh token, written to a new ``path`` that is mode 0600 from its first byte."""
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuthError(f"{path} exists; remove it first to replace its token") from None
    except OSError as exc:
        raise AuthError(f"cannot create token file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token


class FailureLimiter:
    """Failed sign-ins per client address in a sliding window; past the limit, a client waits."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = FAILURE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.get(client, deque())
        while failures and failures[0] <= self.clock() - self.window_s:
            failures.popleft()
        return failures

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again; 0 when it may try now."""
        failures = self._recent(client)
        if len(failures) < self.max_failures:
            return 0.0
        return max(failures[0] + self.window_s - self.clock(), 0.001)

    def fail(self, client: str) -> None:
        if client not in self._failures and len(self._failures) >= self.max_clients:
            # Bounded memory under a spray of addresses: forget the client seen longest ago.
            del self._failures[next(iter(self._failures))]
        failures = self._recent(client)
        failures.append(self.clock())
        self._failures[client] = failures


class Credentials:
    """The token and the session cookies signed with it."""

    def __init__(self, token: str, secure: bool, clock: Callable[[], float] = time.time) -> None:
        self._token = token.encode()
        self._key = hashlib.sha256(b"emostream dashboard session\0" + self._token).digest()
        self.secure = secure
        self.clock = clock

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token)

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        payload = f"{int(self.clock())}.{secrets.token_hex(8)}"
        return f"{payload}.{self._sign(payload)}"

    def session_valid(self, value: str) -> bool:
        payload, _, signature = value.rpartition(".")
        issued = payload.split(".", 1)[0]
        if not issued.isdigit() or not hmac.compare_digest(signature, self._sign(payload)):
            return False
        return 0 <= self.clock() - int(issued) <= SESSION_MAX_AGE_S

    def set_cookie(self, value: str, max_age: int = SESSION_MAX_AGE_S) -> str:
        """A ``Set-Cookie`` value: script cannot read it, other sites cannot send it."""
        cookie = f"{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
        return cookie + "; Secure" if self.secure else cookie


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>emostream: sign in</title>
<style>
body {{ font: 16px system-ui, sans-serif; background: #111; color: #eee; display: grid;
       place-items: center; min-height: 90vh; margin: 0; }}
form {{ background: #1c1c1c; padding: 2em; border-radius: 8px; width: 22em; }}
input {{ width: 100%; box-sizing: border-box; padding: .5em; margin: .5em 0 1em; }}
button {{ padding: .5em 1.5em; }}
.error {{ color: #ff8a65; }}
</style></head>
<body><form method="post" action="/login">
<h1>emostream</h1>
<p>This dashboard shows people's expressions. Sign in with the token from the file given to
<code>--auth-file</code>.</p>
<p class="error" role="alert">{error}</p>
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Sign in</button>
</form></body></html>
"""


async def _respond(
    send: Send,
    status: int,
    body: bytes = b"",
    content_type: str = "application/json",
    headers: list[tuple[str, str]] | None = None,
) -> None:
    raw = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    raw += [(k.encode(), v.encode("latin-1")) for k, v in headers or []]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _json(error: str) -> bytes:
    return json.dumps({"error": error}).encode()


class RequireAuth:
    """ASGI middleware: every route but :data:`OPEN_PATHS` needs the token or a session cookie.

    HTTP without them is 401 (a browser asking for the page is sent to ``/login`` instead); a
    WebSocket without them is closed before it is accepted, which refuses the handshake (403).
    The sign-in form is served and checked here too, so the app below never sees a stranger.
    """

    def __init__(
        self, app: ASGIApp, credentials: Credentials, limiter: FailureLimiter | None = None
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.limiter = limiter or FailureLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if scope["type"] == "http" and path == "/login":
            await self._login(scope, receive, send)
        elif scope["type"] == "http" and path == "/logout":
            signed_out = self.credentials.set_cookie("", max_age=0)
            await _respond(send, 303, headers=[("location", "/login"), ("set-cookie", signed_out)])
        elif path in OPEN_PATHS:
            await self.app(scope, receive, send)
        else:
            verdict = self._verdict(scope)
            if verdict is None:
                await self.app(scope, receive, send)
            elif scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await self._refuse(scope, send, verdict)

    def _verdict(self, scope: Scope) -> str | None:
        """None when the request may pass, else why not."""
        headers = _headers(scope)
        scheme, _, bearer = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and bearer:
            client = _client(scope)
            if self.limiter.retry_after(client):
                return TOO_MANY
            if self.credentials.token_matches(bearer.strip()):
                return None
            self.limiter.fail(client)
            log.warning("wrong bearer token from %s for %s", client, scope["path"])
            return "wrong token"
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # http.cookies raises CookieError, or worse on odd input
            return "unreadable cookie"
        session = cookie.get(SESSION_COOKIE)
        if session is not None and self.credentials.session_valid(session.value):
            return None
        return "sign in first"

    async def _refuse(self, scope: Scope, send: Send, reason: str) -> None:
        if reason == TOO_MANY:
            retry = self.limiter.retry_after(_client(scope))
            await _respond(send, 429, _json(reason), headers=[("retry-after", f"{retry:.0f}")])
        elif scope["path"] == "/" and scope["method"] in ("GET", "HEAD"):
            await _respond(send, 303, headers=[("location", "/login")])
        else:
            await _respond(
                send, 401, _json(reason), headers=[("www-authenticate", 'Bearer realm="emostream"')]
            )

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in ("GET", "HEAD"):
            await self._login_page(send, 200, "")
            return
        if scope["method"] != "POST":
            await _respond(send, 405, _json("use GET or POST"), headers=[("allow", "GET, POST")])
            return
        body = await _read_body(receive, MAX_LOGIN_BODY)
        if body is None:
            await _respond(send, 413, _json(f"a sign-in is at most {MAX_LOGIN_BODY} bytes"))
            return
        client = _client(scope)
        retry = self.limiter.retry_after(client)
        if retry:
            log.warning("sign-in from %s refused: %s", client, TOO_MANY)
            await self._login_page(send, 429, f"{TOO_MANY}: try again in {retry:.0f} s.", retry)
            return
        try:
            fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        except ValueError:
            await _respond(send, 400, _json("a sign-in form has one field, token"))
            return
        candidate = (fields.get("token") or [""])[0].strip()
        if candidate and self.credentials.token_matches(candidate):
            log.info("signed in from %s", client)
            cookie = self.credentials.set_cookie(self.credentials.new_session())
            await _respond(send, 303, headers=[("location", "/"), ("set-cookie", cookie)])
            return
        self.limiter.fail(client)
        log.warning("failed sign-in from %s", client)
        await self._login_page(send, 401, "Wrong token.")

    async def _login_page(self, send: Send, status: int, error: str, retry: float = 0.0) -> None:
        headers = [("retry-after", f"{retry:.0f}")] if retry else []
        page = LOGIN_PAGE.format(error=error).encode()
        await _respond(send, status, page, "text/html; charset=utf-8", headers)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it passes ``limit`` bytes."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return body
