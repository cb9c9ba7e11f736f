"""The web perimeter, probed from the app's own route list (so a route added later cannot slip
through): the token on every route but the open ones, no uploads, CORS only for allowed origins, body
and conversation caps, the front page and offline docs."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from rag.engine import Engine
from rag.settings import Settings
from rag.store import Store
from ui.guard import CLOSED, OPEN
from ui.server import create_app

TOKEN = "s3cret-token"


def client_for(store: Store, **server) -> TestClient:
    return TestClient(create_app(Settings(home=store.home, server=server), engine_factory=lambda s, n: Engine(store)))


def every_route(app) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the app and of every mounted app, parameters filled."""
    out = []

    def walk(routes, prefix: str) -> None:
        for r in routes:
            if hasattr(r, "original_router"):  # a router FastAPI included with a prefix
                walk(r.original_router.routes, prefix + (r.include_context.prefix or ""))
                continue
            if isinstance(r, Mount):
                walk(getattr(r.app, "routes", []), prefix + r.path)
                if not getattr(r.app, "routes", None):
                    out.append(("GET", prefix + r.path + "/x"))  # a mounted static app
                continue
            path = re.sub(r"\{[^}]+\}", "x", prefix + getattr(r, "path", ""))
            for method in sorted(getattr(r, "methods", None) or {"GET"}):
                if method not in ("HEAD", "OPTIONS"):
                    out.append((method, path))

    walk(app.routes, "")
    return out


@pytest.fixture(scope="module")
def guarded(sample_store: Store) -> TestClient:
    return client_for(sample_store, auth_token=TOKEN, allowed_origins=["https://intranet.example"])


def test_every_route_but_the_open_ones_needs_the_token(guarded: TestClient) -> None:
    routes = every_route(guarded.app)
    assert len(routes) > 80  # the API and every route of the chat
    assert {p for _, p in routes} >= {"/docs", "/redoc", "/openapi.json", "/chat/config", "/chat/gradio_api/info"}
    leaked = []
    for method, path in routes:
        if path in OPEN:
            continue
        r = guarded.request(method, path, json={})
        refused = 403 if path.startswith("/chat") and any(c in path for c in CLOSED) else 401
        if r.status_code != refused:
            leaked.append((method, path, r.status_code))
    assert leaked == []
    assert guarded.get("/healthz").status_code == 200 and guarded.get("/embed.js").status_code == 200


def test_the_token_opens_the_routes_as_header_or_cookie(guarded: TestClient) -> None:
    assert guarded.get("/api/claims", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert guarded.get("/chat/config", cookies={"whosaid_token": TOKEN}).status_code == 200
    assert guarded.get("/docs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert guarded.get("/api/claims", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_uploads_and_development_routes_are_refused_even_with_the_token(guarded: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    files = {"files": ("x.html", b"<script>alert(1)</script>", "text/html")}
    for path in ("/chat/gradio_api/upload", "/chat/upload"):
        r = guarded.post(path, files=files, headers=auth)
        assert r.status_code == 403 and "uploads are disabled" in r.json()["detail"]
    closed = [(m, p) for m, p in every_route(guarded.app) if p.startswith("/chat") and any(c in p for c in CLOSED)]
    assert len(closed) >= 10
    for method, path in closed:
        assert guarded.request(method, path, headers=auth, json={}).status_code == 403, path


@pytest.mark.parametrize("path", ["/chat/config", "/chat/gradio_api/queue/join", "/api/claims"])
def test_cors_headers_only_for_allowed_origins(guarded: TestClient, path: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for origin in ("http://127.0.0.1:9999", "http://localhost:3000", "https://evil.example"):
        for r in (guarded.get(path, headers={**auth, "Origin": origin}),
                  guarded.options(path, headers={**auth, "Origin": origin, "Access-Control-Request-Method": "POST"})):
            assert "access-control-allow-origin" not in r.headers, (origin, r.headers)
            assert "access-control-allow-credentials" not in r.headers


def test_bodies_questions_and_conversations_are_capped(sample_store: Store) -> None:
    client = client_for(sample_store, max_body_bytes=4096, max_history_turns=4, max_history_chars=300)
    r = client.post("/api/ask", content=b'{"question": "' + b"x" * 10_000 + b'"}', headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than 4096 bytes" in r.json()["detail"]

    def chunks():
        yield b'{"question": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    r = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})  # no content-length
    assert r.status_code == 413
    r = client.post("/api/ask", json={"question": "Who denied what?", "history": [["user", "hi"]] * 5})
    assert r.status_code == 422 and r.json()["detail"] == "the conversation is too long (5 turns; the limit is 4)"
    r = client.post("/api/ask", json={"question": "Who denied what?", "history": [["user", "z" * 301]]})
    assert r.status_code == 422 and "301 characters; the limit is 300" in r.json()["detail"]
    assert client.post("/api/ask", json={"question": "q" * 501}).status_code == 422
    assert client.post("/api/ask", json={"question": "Who denied what?", "history": [["user", "hi"]] * 4}).status_code == 200


def test_front_page_and_offline_docs(sample_store: Store) -> None:
    client = client_for(sample_store)
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/chat/"
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    redoc = client.get("/redoc").text
    assert "cdn" not in redoc.lower() and '<script src="/redoc.js">' in redoc
    bundle = client.get("/redoc.js")
    assert bundle.status_code == 200 and b"redoc" in bundle.content and b"cdn.redoc.ly" not in bundle.content
