"""The web perimeter of ``whosaid serve``, in one ASGI middleware around the whole app (the API and the
mounted Gradio chat alike), so a route added later cannot slip past it:

* **token**: with ``WHOSAID_AUTH_TOKEN`` set, every path but :data:`OPEN` needs the token, as a bearer
  header or the cookie ``/login`` sets; HTTP and websocket alike;
* **no uploads**: the chat has no upload component, so Gradio's upload routes are refused, and so are
  its development routes (:data:`CLOSED`);
* **body size**: a request body over ``WHOSAID_MAX_BODY_BYTES`` gets 413 before the app reads it;
* **CORS**: ``Access-Control-Allow-*`` headers (Gradio reflects loopback origins, with credentials) are
  kept only for this server's own origin and ``WHOSAID_ALLOWED_ORIGINS``;
* **headers**: CSP ``frame-ancestors`` (who may embed the widget) and same-origin images and media,
  ``nosniff``, ``same-origin`` referrers.
"""

from __future__ import annotations

import hmac
import json
from http.cookies import CookieError, SimpleCookie
from typing import Any, Awaitable, Callable

from rag.settings import ServerSettings

TOKEN_COOKIE = "whosaid_token"
#: Paths that answer without the token: liveness, the login that sets the cookie, the widget's script
#: (it only inserts an iframe to /chat, which needs the token) and the front page's redirect.
OPEN = frozenset({"/healthz", "/login", "/embed.js", "/"})

#: Gradio routes the chat never uses, refused even with the token: uploads (the chat has no upload
#: component), the development and "vibe" editors, the URL proxy, recordings, run history, monitoring.
CLOSED = ("/upload", "/vibe-", "/undo-vibe-edit", "/dev/", "/proxy=", "/process_recording", "/run-history", "/gradio_api/runs",
          "/custom_component/", "/monitoring")

#: Images, media and plugins only from this server: should markup ever slip into a page (an answer, an
#: article), the browser still fetches nothing from elsewhere; and ReDoc's bundle, which links its logo
#: from a CDN, shows none.
SAME_ORIGIN_MEDIA = "img-src 'self' data: blob:; media-src 'self' data: blob:; object-src 'none'; base-uri 'self'"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def token_ok(headers: dict[str, str], token: str) -> bool:
    """The bearer header or the login cookie carries the token (compared in constant time)."""
    if not token:
        return True
    header = headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else ""
    if not given and "cookie" in headers:
        try:
            morsel = SimpleCookie(headers["cookie"]).get(TOKEN_COOKIE)
        except CookieError:
            morsel = None
        given = morsel.value if morsel else ""
    return hmac.compare_digest(given.encode(), token.encode())


class Guard:
    """ASGI middleware enforcing the perimeter described in the module docstring."""

    def __init__(self, app, server: ServerSettings) -> None:
        self.app = app
        self.server = server
        self.frame_ancestors = " ".join(["'self'", *server.allowed_origins])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = self._path(scope)
        if path.startswith("/chat") and any(part in path for part in CLOSED):
            await self._refuse(scope, send, 403, "uploads are disabled: the chat takes questions only" if "/upload" in path
                               else "not available: the chat answers questions only")
            return
        if self.server.auth_token and path not in OPEN and not token_ok(headers, self.server.auth_token):
            await self._refuse(scope, send, 401, "missing or wrong access token", {"www-authenticate": "Bearer"})
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        body = await self._body(receive, headers)
        if body is None:
            await self._refuse(scope, send, 413, f"the request body is larger than {self.server.max_body_bytes} bytes")
            return
        origin = headers.get("origin", "")
        allowed = self._origin_allowed(origin, scope, headers)

        async def replay() -> dict:
            nonlocal body
            if body is not None:
                chunk, body = body, None
                return {"type": "http.request", "body": chunk, "more_body": False}
            return await receive()

        async def guarded_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", [])
                        if allowed or not k.decode("latin-1").lower().startswith("access-control-allow-")]
                kept = [(k, v) for k, v in kept if k.decode("latin-1").lower() not in
                        ("content-security-policy", "x-content-type-options", "referrer-policy")]
                kept += [(b"content-security-policy", f"frame-ancestors {self.frame_ancestors}; {SAME_ORIGIN_MEDIA}".encode()),
                         (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
                message = {**message, "headers": kept}
            await send(message)

        await self.app(scope, replay, guarded_send)

    def _path(self, scope: Scope) -> str:
        path = scope.get("path", "/") or "/"
        root = scope.get("root_path") or self.server.root_path
        return path[len(root):] or "/" if root and path.startswith(root) else path

    def _origin_allowed(self, origin: str, scope: Scope, headers: dict[str, str]) -> bool:
        if not origin:
            return True
        own = f"{'https' if scope.get('scheme') in ('https', 'wss') else 'http'}://{headers.get('host', '')}"
        return origin == own or origin in self.server.allowed_origins

    async def _body(self, receive: Receive, headers: dict[str, str]) -> bytes | None:
        """The whole request body, or None when it is over the limit (read no further than that)."""
        limit = self.server.max_body_bytes
        try:
            if int(headers.get("content-length", "0")) > limit:
                return None
        except ValueError:
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return None
            if not message.get("more_body"):
                break
        return b"".join(chunks)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
