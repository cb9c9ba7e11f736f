"""The JSON API against the real app (FastAPI TestClient), a real store, and a real uvicorn
server on 127.0.0.1 for the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.engine import Engine
from rag.settings import Settings
from rag.store import Store
from tests.conftest import SAMPLES
from tests.servers import free_port, serving
from ui.guard import SAME_ORIGIN_MEDIA
from ui.server import create_app


def client_for(store: Store, **server) -> TestClient:
    settings = Settings(home=store.home, server=server)
    app = create_app(settings, engine_factory=lambda s, name: Engine(store))
    return TestClient(app, root_path=settings.server.root_path)


@pytest.fixture
def client(sample_store: Store) -> TestClient:
    return client_for(sample_store)


def test_ask_returns_the_ask_json_object(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": "Who ruled out water rationing?"})
    assert r.status_code == 200
    out = r.json()
    assert set(out) == {"question", "answer", "abstained", "mode", "citations", "claims", "statements", "notice", "usage", "timings_ms"}
    assert out["claims"][0]["stance"] == "rule_out" and out["citations"][0]["article_id"] == "10-water-authority-rules-out-rationing"
    assert r.headers["content-security-policy"] == f"frame-ancestors 'self'; {SAME_ORIGIN_MEDIA}"


def test_stream_sends_events_then_the_answer(client: TestClient) -> None:
    with client.stream("POST", "/api/ask/stream", json={"question": "How many containers did the port handle last year?"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events][-1] == "done"
    assert "1.2 million containers" in "".join(e["text"] for e in events if e["type"] == "delta")
    assert events[-1]["answer"]["citations"][0]["sentence_index"] == 11


def test_claims_filters_and_rejects_unknown_stance(client: TestClient) -> None:
    rows = client.get("/api/claims", params={"stance": "quote"}).json()
    assert {r["speaker"] for r in rows} >= {"APN", "TNA"}
    assert {r["speaker_mention"] for r in rows} >= {"The state news agency APN", "The Tarsian news agency TNA"}
    assert all(r["stance"] == "quote" for r in rows)
    assert [r["article_id"] for r in client.get("/api/claims", params={"speaker": "tna"}).json()] == ["08-generals-meet-at-border-crossing"]
    r = client.get("/api/claims", params={"stance": "shouted"})
    assert r.status_code == 422 and "unknown stance" in r.json()["detail"]


def test_claims_group_by_canonical_speaker(client: TestClient) -> None:
    groups = client.get("/api/claims", params={"group": "speaker", "speaker": "reyland"}).json()
    assert [(g["speaker_key"], g["speaker"]) for g in groups] == [("tomas reyland", "Tomas Reyland")]
    reyland = groups[0]
    assert len(reyland["articles"]) == 3 and {c["speaker_mention"] for c in reyland["claims"]} >= {"he", "The minister", "Reyland"}
    assert any(c["negated"] and c["reads"] == "did not deny" for c in reyland["claims"])
    rows = client.get("/api/claims", params={"stance": "deny"}).json()
    keys = [r["speaker_key"] for r in rows]
    assert keys == sorted(keys, key=keys.index)  # one speaker's rows together
    assert all(r["speaker_group"] for r in rows) and "tomas reyland" in keys
    assert client.get("/api/claims", params={"group": "nonsense"}).status_code == 422


def test_article_has_sentences_with_offsets_and_claims(client: TestClient) -> None:
    r = client.get("/api/articles/12-navy-denies-exercise-aimed-at-neighbour")
    art = r.json()
    assert all(art["text"][s["start"] : s["end"]] == s["text"] for s in art["sentences"])
    assert any(c["stance"] == "deny" for c in art["claims"])
    assert client.get("/api/articles/no-such-article").status_code == 404


def test_question_length_cap_and_empty_question(sample_store: Store) -> None:
    client = client_for(sample_store, max_question_chars=40)
    r = client.post("/api/ask", json={"question": "x" * 41})
    assert r.status_code == 422 and r.json()["detail"] == "the question is too long (41 characters; the limit is 40)"
    assert client.post("/api/ask", json={"question": "   "}).json()["detail"] == "the question is empty"
    assert client.post("/api/ask", json={"question": "Who ruled out water rationing?", "collection": "../x"}).status_code == 422


def test_auth_token_guards_everything_but_health(sample_store: Store) -> None:
    client = client_for(sample_store, auth_token="s3cret", allowed_origins=["https://intranet.example"])
    assert client.get("/healthz").json() == {"status": "ok"}
    for method, url, body in [("POST", "/api/ask", {"question": "Who denied what?"}), ("GET", "/api/claims", None),
                              ("GET", "/api/articles/01-harbour-minister-denies-port-sale", None)]:
        assert client.request(method, url, json=body).status_code == 401
        assert client.request(method, url, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.request(method, url, json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
    assert client.get("/healthz").headers["content-security-policy"] == f"frame-ancestors 'self' https://intranet.example; {SAME_ORIGIN_MEDIA}"


def test_openapi_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/ask/stream", "/api/claims", "/api/articles/{article_id}", "/healthz"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_whosaid_serve_on_loopback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    assert subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(SAMPLES)], env=env, capture_output=True).returncode == 0
    port = free_port()
    command = [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(home)]
    with serving(command, f"http://127.0.0.1:{port}/healthz", name="whosaid serve"):
        r = httpx.post(f"http://127.0.0.1:{port}/api/ask", json={"question": "Who denied overpaying for the flu vaccine?"}, timeout=60)
        assert r.status_code == 200 and r.json()["claims"][0]["stance"] == "deny"


def test_chat_and_widget_routes(sample_store: Store) -> None:
    client = client_for(sample_store)
    assert client.get("/chat/").status_code == 200
    js = client.get("/embed.js")
    assert js.headers["content-type"].startswith("text/javascript") and 'frame.src = base + "/chat"' in js.text
    demo = client.get("/embed-demo").text
    assert '<script src="embed.js" data-height="640"></script>' in demo and "&lt;script src=" in demo
    assert "https://" not in demo  # nothing is loaded from outside the whosaid server


def test_chat_needs_the_token_cookie_when_auth_is_on(sample_store: Store) -> None:
    client = client_for(sample_store, auth_token="s3cret")
    assert client.get("/chat/config").status_code in (401, 403)
    assert client.get("/login", params={"token": "wrong"}).status_code == 401
    r = client.get("/login", params={"token": "s3cret"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/chat" and "whosaid_token" in r.headers["set-cookie"]
    assert "httponly" in r.headers["set-cookie"].lower()
    client.cookies.set("whosaid_token", "s3cret")
    assert client.get("/chat/config").status_code == 200
    assert client.get("/api/claims").status_code == 200


def test_root_path_for_a_reverse_proxy(sample_store: Store) -> None:
    client = client_for(sample_store, root_path="/news")
    assert client.get("/openapi.json").json()["servers"] == [{"url": "/news"}]
    r = client_for(sample_store, root_path="/news", auth_token="t").get("/login", params={"token": "t"}, follow_redirects=False)
    assert r.headers["location"] == "/news/chat"
