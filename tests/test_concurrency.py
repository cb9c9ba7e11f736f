"""Many requests at once against one Engine, with real threads and real servers on 127.0.0.1.

1. Requests overlap: against a real ``whosaid serve`` (``WHOSAID_WORKERS=K``), a scripted LLM
   endpoint answers no one until ``K`` answer requests are inside it at the same time (a barrier: a
   condition, not a timing). ``K`` is more than anyio's default 40 threads and more than the chat
   queue's old limit of 2, and mixes ``/api/ask``, ``/api/ask/stream`` and the Gradio chat, so every
   path must run ``WHOSAID_WORKERS`` answers at once. A server that serialises answering (a lock held
   across the LLM call, a queue or thread pool too small) never fills the barrier: it breaks after
   ``BARRIER_WAIT`` seconds and the test fails. The engine starts cold: the first K requests open it.
2. Readers in threads while a real ``whosaid ingest`` writes to the same data directory (SQLite on
   disk): no errors, and every answer is the unloaded one from before or after the ingest.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Callable

import httpx
import pytest

from ingest.pipeline import ingest
from rag.engine import Engine
from rag.settings import Settings
from rag.store import Store
from tests.conftest import SAMPLES
from tests.openai_server import ScriptedOpenAI, Status, cite_best, shown_sentences
from tests.reliability.runs import Ingest
from tests.reliability.test_load import answer_key, sse_events, write_load_corpus
from tests.servers import free_port, serving

BARRIER_WAIT = 300  # seconds the scripted endpoint waits for all K requests before giving up
ASKS, STREAMS, CHATS = 24, 24, 8  # 48 API requests (> anyio's default 40 threads) + 8 chats (> the old 2)
K = ASKS + STREAMS + CHATS
QUESTIONS = [  # each reaches the answerer (retrieval or the claims ledger with sentences to show)
    "How many containers did the port handle last year?",
    "Who ruled out water rationing?",
    "Who confirmed the meeting, and to whom?",
    "What did the court decide about charities?",
]


def run_threads(targets: list[Callable[[], None]], what: str) -> None:
    """Run each target in its own thread; wait (generously: the barrier bounds a failing run)."""
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BARRIER_WAIT * 3)
    assert not any(t.is_alive() for t in threads), f"{what}: some threads never finished"


def test_k_answers_are_inside_the_llm_at_once(sample_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    gradio_client = pytest.importorskip("gradio_client")
    barrier = threading.Barrier(K, timeout=BARRIER_WAIT)

    def respond(body: dict):
        if shown_sentences(body)[1]:  # an answer prompt (not a question rewrite): wait for all K
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                return Status(500, "the barrier was never reached: requests were serialised")
        return cite_best(body)

    with ScriptedOpenAI(respond=respond) as llm:
        # one request per answer, no retries; the endpoint may take as long as the barrier does
        for name, value in {"WHOSAID_HOME": str(sample_store.home), "WHOSAID_WORKERS": str(K), "WHOSAID_LLM_BASE_URL": llm.base_url,
                            "WHOSAID_LLM_MODEL": "scripted", "WHOSAID_LLM_TIMEOUT": str(BARRIER_WAIT * 2), "WHOSAID_LLM_RETRIES": "0"}.items():
            monkeypatch.setenv(name, value)
        port = free_port()
        command = [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        results: list[tuple[str, str, dict | str]] = []
        errors: list[str] = []
        lock = threading.Lock()

        base = f"http://127.0.0.1:{port}"
        with serving(command, f"{base}/healthz", name="whosaid serve"):
            chats = [gradio_client.Client(f"{base}/chat/", verbose=False, httpx_kwargs={"timeout": BARRIER_WAIT * 3})
                     for _ in range(CHATS)]

            def client(kind: str, n: int) -> Callable[[], None]:
                q = QUESTIONS[n % len(QUESTIONS)]

                def go() -> None:
                    try:
                        if kind == "chat":
                            history, _ = chats[n].predict(q, [], api_name="/respond")
                            got: dict | str = history[-1]["content"] if isinstance(history[-1]["content"], str) else json.dumps(history[-1]["content"])
                        else:
                            with httpx.Client(base_url=base, timeout=BARRIER_WAIT * 3, trust_env=False) as http:
                                r = http.post(f"/api/{kind}", json={"question": q})
                                r.raise_for_status()
                                last = r.json() if kind == "ask" else sse_events(r.text)[-1]
                                got = last["answer"] if last.get("type") == "done" else last
                        with lock:
                            results.append((kind, q, got))
                    except Exception as e:  # noqa: BLE001 - reported below
                        with lock:
                            errors.append(f"{kind} {q!r}: {type(e).__name__}: {str(e)[:300]}")

                return go

            run_threads([client("ask", i) for i in range(ASKS)] + [client("ask/stream", i) for i in range(STREAMS)]
                        + [client("chat", i) for i in range(CHATS)], "concurrent asks")

    assert errors == [], errors[:5]
    assert not barrier.broken, f"only {barrier.n_waiting} of {K} requests were inside the LLM at once"
    assert len(results) == K
    for kind, q, got in results:
        if kind == "chat":
            assert isinstance(got, str) and "could not answer" not in got and "#cite/" in got, (q, got[:300])
        else:
            assert isinstance(got, dict) and got.get("mode") == "llm" and got["notice"] is None, (kind, q, got)
            assert not got["abstained"] and got["citations"], (kind, q, got)


def test_readers_in_threads_while_an_ingest_writes(tmp_path: Path, _isolated_home: Path, minilm) -> None:
    store = Store(Settings(home=_isolated_home), minilm)
    ingest([SAMPLES], store, progress=False)
    engine = Engine(store)  # extractive: the reads are the work
    questions = QUESTIONS + ["Who denied the port sale?", "What did the interior ministry deny?", "Who?"]

    def answers() -> dict[str, tuple]:
        return {q: answer_key(engine.ask(q).to_json_dict()) for q in questions}

    before = answers()
    corpus = tmp_path / "astro.jsonl"
    write_load_corpus(corpus, 120)
    writer = Ingest(corpus, {**os.environ, "WHOSAID_HOME": str(_isolated_home)})
    seen: list[tuple[str, tuple, bool]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def reader(n: int) -> Callable[[], None]:
        def go() -> None:
            rounds = 0
            while rounds < 2 or writer.proc.poll() is None:  # at least two rounds, then until the ingest ends
                for q in questions[n % len(questions):] + questions[: n % len(questions)]:
                    during = writer.proc.poll() is None
                    try:
                        got = answer_key(engine.ask(q).to_json_dict())
                        with lock:
                            seen.append((q, got, during))
                    except Exception as e:  # noqa: BLE001 - reported below
                        with lock:
                            errors.append(f"{q!r}: {type(e).__name__}: {str(e)[:300]}")
                rounds += 1
        return go

    run_threads([reader(i) for i in range(8)], "readers")
    report = writer.finish(_isolated_home / "catalogue.sqlite3")
    assert report["failed"] == [], report
    after = answers()
    assert errors == [], errors[:5]
    assert any(during for _, _, during in seen), "no read overlapped the ingest"
    wrong = [q for q, got, _ in seen if got not in (before[q], after[q])]
    assert wrong == [], wrong[:5]
    late = engine.ask("What did Ilse Varga say about comet C/2031?")
    assert any(c.article_id == "astro-0005" for c in late.citations), late  # the readers' engine sees the ingest
