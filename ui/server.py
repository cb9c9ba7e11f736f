"""``whosaid serve``: a FastAPI app with the JSON API (the chat mounts beside it).

Routes: ``POST /api/ask`` (the ``ask --json`` object), ``POST /api/ask/stream`` (the answer's events as
Server-Sent Events), ``GET /api/claims``, ``GET /api/speakers``, ``GET /api/speakers/{key}/claims``,
``GET /api/links``, ``GET /api/articles/{id}``, ``GET /healthz``; OpenAPI docs at
``/docs``. With ``WHOSAID_AUTH_TOKEN`` set every route but ``/healthz`` needs
``Authorization: Bearer TOKEN``. Pages allowed to embed whosaid are sent as CSP ``frame-ancestors``.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import re
import threading
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi_offline import FastAPIOffline
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from rag.engine import ANSWER_FAILED, Engine
from rag.filters import Filters
from rag.settings import Settings
from rag.types import LINK_KINDS, STANCES, DoneEvent
from ui.guard import TOKEN_COOKIE, Guard, token_ok


class AskRequest(BaseModel):
    question: str = Field(description="The question")
    collection: str | None = Field(default=None, description="Collection name (default: the server's)")
    k: int | None = Field(default=None, ge=1, le=100, description="Candidate sentences retrieved")
    history: list[tuple[str, str]] = Field(
        default_factory=list, description="Earlier turns as [role, text] pairs, role 'user' or 'assistant' "
        "(at most WHOSAID_MAX_HISTORY_TURNS turns and WHOSAID_MAX_HISTORY_CHARS characters)",
    )
    filters: Filters | None = Field(default=None, description="Answer only from the articles (and speaker) these match; "
                                    "a bad date is a 422, a filter matching nothing an abstention")


#: ``?format=`` of the exports: media type and file extension.
EXPORT_TYPES = {"csv": ("text/csv; charset=utf-8", "csv"), "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl"),
                "jsonld": ("application/ld+json; charset=utf-8", "jsonld")}


def export_response(body: str, fmt: str, name: str) -> Response:
    """An export as a download: its media type and a Content-Disposition filename."""
    media, ext = EXPORT_TYPES[fmt]
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{ext}"'})


class Engines:
    """One engine per collection, built once on first use and then shared by every request: an engine
    serves many threads at once (nothing here serialises answering; a lock guards only the building)."""

    def __init__(self, settings: Settings, factory: Callable[[Settings, str], Engine]) -> None:
        self.settings = settings
        self.factory = factory
        self._engines: dict[str, Engine] = {}
        self._building = threading.Lock()

    def get(self, collection: str | None) -> Engine:
        name = collection or self.settings.collection
        engine = self._engines.get(name)
        if engine is not None:
            return engine
        try:
            Settings(home=self.settings.home, collection=name)  # validates the name
        except ValueError:
            raise HTTPException(422, f"invalid collection name '{name}'") from None
        with self._building:  # held while an engine is built, never while one answers
            if name not in self._engines:
                self._engines[name] = self.factory(self.settings, name)
            return self._engines[name]


@lru_cache(maxsize=1)
def offline_redoc_bundle() -> bytes:
    """fastapi-offline's ReDoc bundle with the one address it would still fetch (its logo, from
    cdn.redoc.ly) emptied: an offline page must make no outside request."""
    import fastapi_offline

    bundle = (Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js").read_bytes()
    return re.sub(rb"https://cdn\.redoc\.ly/[^\"']*", b"", bundle)


def default_engine_factory(settings: Settings, collection: str) -> Engine:
    return Engine.open(settings, collection)


def create_app(
    settings: Settings | None = None, engine_factory: Callable[[Settings, str], Engine] | None = None, chat: bool = True
) -> FastAPI:
    settings = settings or Settings()
    server = settings.server
    engines = Engines(settings, engine_factory or default_engine_factory)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # FastAPI runs sync endpoints, and Starlette steps sync streaming bodies, in anyio's default
        # thread pool (40 threads unless told otherwise); it is per event loop, so it is sized here,
        # once the loop runs: WHOSAID_WORKERS requests compute or wait on the LLM at once.
        anyio.to_thread.current_default_thread_limiter().total_tokens = server.workers
        yield

    app = FastAPIOffline(  # Swagger UI and ReDoc served from the package, not from a CDN
        title="whosaid",
        description="Question answering over news articles; every answer cites the exact sentences it rests on.",
        redoc_url=None,  # served below: the packaged ReDoc bundle still links its logo from a CDN
        lifespan=lifespan,
    )
    app.state.engines = engines
    app.state.settings = settings

    app.add_middleware(Guard, server=server)

    def check_question(body: AskRequest) -> None:
        if not body.question.strip():
            raise HTTPException(422, "the question is empty")
        if len(body.question) > server.max_question_chars:
            raise HTTPException(422, f"the question is too long ({len(body.question)} characters; the limit is {server.max_question_chars})")
        if len(body.history) > server.max_history_turns:
            raise HTTPException(422, f"the conversation is too long ({len(body.history)} turns; the limit is {server.max_history_turns})")
        chars = sum(len(text) for _, text in body.history)
        if chars > server.max_history_chars:
            raise HTTPException(422, f"the conversation is too long ({chars} characters; the limit is {server.max_history_chars})")

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title="whosaid - ReDoc", redoc_js_url=f"{root}/redoc.js",
                              redoc_favicon_url=f"{root}/static-offline-docs/favicon.png", with_google_fonts=False)

    @app.get("/redoc.js", include_in_schema=False)
    def redoc_js() -> Response:
        return Response(offline_redoc_bundle(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """The chat is the front page."""
        return RedirectResponse(f"{server.root_path}/chat/", status_code=307)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict:  # async: liveness never waits for a worker thread busy answering
        """Liveness: always open, even when a token is required."""
        return {"status": "ok"}

    @app.post("/api/ask", tags=["answers"])
    def ask(
        body: AskRequest,
        format: str = Query(default="json", pattern="^(json|csv|jsonl)$", description="json (the `ask --json` object), or csv / jsonl: one row per citation"),
    ) -> Response:
        """The same object as ``whosaid ask --json``; ``?format=csv|jsonl`` downloads it one row per citation."""
        check_question(body)
        engine = engines.get(body.collection)
        try:
            answer = engine.ask(body.question, body.k, body.history, body.filters)
        except Exception:  # noqa: BLE001 - a clear JSON error, never a traceback page
            log.exception("answering %r failed", body.question[:100])
            return JSONResponse({"detail": ANSWER_FAILED}, status_code=500)
        if format != "json":
            from rag.export import answer_csv, answer_jsonl
            from rag.filters import articles_meta

            meta = articles_meta(engine.store, (c.article_id for c in answer.citations))
            return export_response((answer_csv if format == "csv" else answer_jsonl)(answer, meta), format, "whosaid-answer")
        return JSONResponse(answer.to_json_dict())

    @app.post("/api/ask/stream", tags=["answers"])
    def ask_stream(body: AskRequest) -> StreamingResponse:
        """The answer's events as Server-Sent Events: ``delta``, ``statement``, ``notice``, then ``done``
        whose ``answer`` is the ``ask --json`` object (or ``error`` with a ``text`` if answering failed)."""
        check_question(body)
        engine = engines.get(body.collection)

        def events() -> Iterator[str]:
            # Starlette steps a sync iterator in the worker threads (one ``next`` at a time), so a
            # stream takes a thread only while it computes, not while the client reads.
            # The stream always ends with a ``done`` or an ``error`` event, never with an empty body.
            try:
                for event in engine.stream(body.question, body.k, body.history, body.filters):
                    data = {"type": "done", "answer": event.answer.to_json_dict()} if isinstance(event, DoneEvent) else event.model_dump()
                    # ASCII escapes: a U+2028 or U+0085 in article text must not split the data line
                    yield f"event: {event.type}\ndata: {json.dumps(data)}\n\n"
            except Exception:  # noqa: BLE001
                log.exception("answering %r failed", body.question[:100])
                yield f"event: error\ndata: {json.dumps({'type': 'error', 'text': ANSWER_FAILED})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.get("/api/claims", tags=["claims"], response_model=list[dict])
    def claims(
        stance: str | None = Query(default=None, description=", ".join(STANCES)),
        speaker: str | None = Query(default=None, max_length=200, description="only this speaker's claims: name words or canonical key"),
        article: list[str] = Query(default=[], description="only these article ids (repeatable)"),
        source: list[str] = Query(default=[], description="only articles from these outlets (exact name, any case; repeatable)"),
        since: str | None = Query(default=None, max_length=10, description="first day, inclusive: YYYY, YYYY-MM or YYYY-MM-DD"),
        until: str | None = Query(default=None, max_length=10, description="last day, inclusive: YYYY, YYYY-MM or YYYY-MM-DD"),
        group: str | None = Query(default=None, pattern="^speaker$", description="'speaker': one object per canonical speaker"),
        format: str = Query(default="json", pattern="^(json|csv|jsonl|jsonld)$",
                            description="json, or a download: csv, jsonl, jsonld (schema.org ClaimReview list)"),
        collection: str | None = None,
    ) -> Response:
        """The claims ledger, filtered as ``whosaid claims``, grouped by canonical speaker: a flat list (each
        row with ``speaker_key`` and ``speaker_group``), or with ``group=speaker`` one object per speaker;
        ``format=csv|jsonl|jsonld`` downloads the filtered ledger."""
        from rag.filters import FilterError, ledger, make_filters

        if stance is not None and stance not in STANCES:
            raise HTTPException(422, f"unknown stance '{stance}' (choose from {', '.join(STANCES)})")
        try:
            filters = make_filters(source, since, until, article, speaker)
        except FilterError as e:
            raise HTTPException(422, str(e)) from None
        engine = engines.get(collection)
        directory = engine.attribution.directory()
        rows = ledger(engine.store, filters, stance, engine.filters)
        groups = directory.groups(rows)
        if format != "json":
            from rag import export as out

            table = out.ledger_rows(engine.store, [directory.display(c) for g in groups for c in g.claims])
            if format == "jsonld":
                return export_response(json.dumps(out.claim_reviews(table), ensure_ascii=False), format, "whosaid-claims")
            return export_response((out.claims_csv if format == "csv" else out.claims_jsonl)(table), format, "whosaid-claims")
        if group == "speaker":
            return JSONResponse([{"speaker_key": g.key, "speaker": g.name, "roles": g.roles, "articles": g.articles,
                                  "claims": [c.to_json_dict() for c in g.claims]} for g in groups])
        return JSONResponse([{**c.to_json_dict(), "speaker_key": g.key, "speaker_group": g.name} for g in groups for c in g.claims])

    @app.get("/api/speakers", tags=["claims"])
    def speakers_route(
        limit: int = Query(default=50, ge=1, le=1000), offset: int = Query(default=0, ge=0), collection: str | None = None,
    ) -> list[dict]:
        """The collection's named speakers, most claims first, a page at a time: ``key``, ``name``, ``claims``,
        ``articles``, and the ``first`` and ``last`` publication dates known."""
        from rag.attribution.timeline import speakers

        return [x.to_json_dict() for x in speakers(engines.get(collection).store, limit, offset)]

    @app.get("/api/speakers/{key}/claims", tags=["claims"])
    def speaker_claims(key: str, collection: str | None = None) -> dict:
        """One speaker's claims across the collection in date order (article date, then ledger order), each
        with its article's title, source, date and url and the cross-article links it makes or answers.
        ``key`` is a key from ``/api/speakers`` (a name, or its last word when only one speaker has it, works too)."""
        from rag.attribution.timeline import resolve_speaker, timeline

        store = engines.get(collection).store
        found = resolve_speaker(store, key)
        if found is None:
            raise HTTPException(404, f"no one speaker '{key}'")
        return {"key": found, "claims": [e.to_json_dict() for e in timeline(store, found)]}

    @app.get("/api/links", tags=["claims"])
    def links_route(
        kind: str | None = Query(default=None, description=", ".join(LINK_KINDS)),
        article: str | None = Query(default=None, max_length=200, description="links with an end in this article"),
        limit: int = Query(default=100, ge=1, le=1000), offset: int = Query(default=0, ge=0), collection: str | None = None,
    ) -> list[dict]:
        """Cross-article links (a denial or response to what another article reported; a speaker confirming
        what they deny elsewhere), each with both sentences and their articles."""
        if kind is not None and kind not in LINK_KINDS:
            raise HTTPException(422, f"unknown kind '{kind}' (choose from {', '.join(LINK_KINDS)})")
        store = engines.get(collection).store
        rows = store.catalogue.links(store.space, article_ids=[article] if article else None, kinds=[kind] if kind else None,
                                     limit=limit, offset=offset)
        return [x.to_json_dict() for x in rows]

    @app.get("/api/articles/{article_id}", tags=["articles"])
    def article(article_id: str, collection: str | None = None) -> dict:
        """An article's text, its sentences with character offsets (and, from a PDF, the page each starts
        on), its page ranges (``pages``: ``{start, end, page}``, empty unless a PDF), and its claims."""
        store = engines.get(collection).store
        found = store.catalogue.article(store.space, article_id)
        if found is None:
            raise HTTPException(404, f"no article '{article_id}'")
        sentences = store.catalogue.sentences(store.space, article_id)
        rows = store.catalogue.claims(store.space, article_id=article_id)
        return {
            **found.model_dump(),
            "pages": [{"start": a, "end": b, "page": n} for a, b, n in found.pages],
            "sentences": [{"index": s.index, "start": s.start, "end": s.end, "text": s.text, "page": s.page} for s in sentences],
            "claims": [c.to_json_dict() for c in rows],
        }

    @app.get("/login", include_in_schema=False)
    def login(token: str = Query(max_length=500), next: str = "chat") -> RedirectResponse:
        """Browsers cannot send a bearer header: ``/login?token=...`` sets it as an HTTP-only cookie."""
        if not server.auth_token or not hmac.compare_digest(token.encode(), server.auth_token.encode()):
            raise HTTPException(401, "wrong access token")
        target = next if next in ("chat", "embed-demo") else "chat"
        response = RedirectResponse(f"{server.root_path}/{target}", status_code=303)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="lax", secure=False)
        return response

    @app.get("/embed.js", include_in_schema=False)
    def embed_js() -> Response:
        """One tag on an intranet page inserts the chat: <script src=".../embed.js" data-height="600">."""
        return Response(EMBED_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=300"})

    @app.get("/embed-demo", include_in_schema=False, response_class=HTMLResponse)
    def embed_demo(request: Request) -> HTMLResponse:
        base = str(request.base_url).rstrip("/")
        snippet = f'<script src="{base}/embed.js" data-height="600"></script>'
        return HTMLResponse(EMBED_DEMO.replace("{{SNIPPET}}", html.escape(snippet)).replace("{{BASE}}", html.escape(base)))

    if chat:
        import gradio as gr

        from ui.chat import CHAT_CSS, CHAT_JS, build_chat

        blocks = build_chat(engines.get, server.max_question_chars)
        # the chat's events run WHOSAID_WORKERS at a time, in a thread pool of that size (Gradio builds
        # its own limiter from max_threads at startup; its queue takes max_threads jobs at most)
        blocks.max_threads = server.workers
        blocks.queue(default_concurrency_limit=server.workers, max_size=max(64, 2 * server.workers))
        gr.mount_gradio_app(
            app, blocks, path="/chat", root_path=f"{server.root_path}/chat" if server.root_path else None,
            blocked_paths=[str(settings.home)], js=CHAT_JS, css=CHAT_CSS, show_error=False,
            # the guard refuses every chat route without the token; Gradio's own check agrees with it
            auth_dependency=(lambda request: "user" if token_ok(dict(request.headers), server.auth_token) else None)
            if server.auth_token else None,
            footer_links=[], ssr_mode=False, mcp_server=False,
        )
    return app


log = logging.getLogger("whosaid.server")

EMBED_JS = r"""(function () {
  var me = document.currentScript;
  if (!me) return;
  var base = me.src.replace(/\/embed\.js(\?.*)?$/, "");
  var frame = document.createElement("iframe");
  frame.src = base + "/chat";
  frame.title = "whosaid";
  frame.style.width = me.getAttribute("data-width") || "100%";
  frame.style.height = (parseInt(me.getAttribute("data-height"), 10) || 600) + "px";
  frame.style.border = "1px solid #ddd";
  frame.setAttribute("loading", "lazy");
  frame.className = "whosaid-embed";
  me.parentNode.insertBefore(frame, me.nextSibling);
})();
"""

EMBED_DEMO = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Intranet - whosaid widget demo</title>
<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}
header{border-bottom:3px solid #36c;margin-bottom:1em}pre{background:#f4f4f4;padding:1em;overflow:auto}</style>
</head><body>
<header><h1>Newsroom intranet</h1></header>
<p>Paste this tag into any intranet page to add the whosaid chat (served by {{BASE}}; nothing is loaded from elsewhere):</p>
<pre id="snippet">{{SNIPPET}}</pre>
<h2>The widget</h2>
<script src="embed.js" data-height="640"></script>
</body></html>
"""
