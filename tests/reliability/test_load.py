"""32 concurrent clients (the JSON API, its event stream, the ledger, articles and the Gradio chat)
against a real ``whosaid serve`` while a real ``whosaid ingest`` writes to the same data directory.
Nothing may fail, and every answer must be one the server gives without load: the answer before the
ingest or the one after it (the ingest adds unrelated articles, which may move a ranking)."""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLES
from tests.reliability.runs import ROOT, Ingest
from tests.servers import free_port, serving

CLIENTS = 32
SUITE = ROOT / "evals" / "suites" / "samples.jsonl"


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in SUITE.read_text().splitlines()[1:] if line.strip()]
    picked = [r["question"] for r in rows if not r.get("expect_abstain")][: n - 3]
    return picked + ["Who denied the moon landing?", "Who?", "What did the harbour minister not deny?"]


def write_load_corpus(path: Path, n: int, edition: int = 0, batch: str = "") -> None:
    """Articles on a subject the samples never touch (astronomy), with claims of their own; ``batch``
    names a set of new articles (ids and titles of their own), ``edition`` changes the same ones."""
    tag = f"{batch}-" if batch else ""
    with path.open("w") as f:
        for i in range(n):
            text = (f"Observatory log {tag}{i}: the telescope at station {i + edition} recorded {i % 40 + 3} meteors before dawn. "
                    f"Director Ilse Varga said comet C/{2026 + i} would brighten in {['May', 'June', 'July'][i % 3]}. "
                    f"Technicians replaced mirror segment {i * 3 + edition} after a frost warning. "
                    f"\u201cThe seeing was excellent on night {i},\u201d the night assistant told the logbook.")
            f.write(json.dumps({"id": f"astro-{tag}{i:04d}", "title": f"Observatory log {tag}{i}", "text": text}) + "\n")


def answer_key(payload: dict) -> tuple:
    """What must not change under load: the answer, abstention and every citation and claim."""
    return (payload["answer"], payload["abstained"], tuple((c["article_id"], c["sentence_index"]) for c in payload["citations"]),
            tuple((c["speaker"], c["stance"], c["content"]) for c in payload["claims"]))


def sse_events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


class Load:
    def __init__(self, base: str, asked: list[str], articles: list[str]) -> None:
        self.base, self.asked, self.articles = base, asked, articles
        self.expected: dict[tuple, set] = {}
        self.errors: list[str] = []
        self.done = Counter()
        self.lock = threading.Lock()

    # -- one request of each kind; the reply (what must not change) -----------------------------------
    def ask(self, http: httpx.Client, q: str) -> tuple:
        r = http.post("/api/ask", json={"question": q})
        r.raise_for_status()
        return answer_key(r.json())

    def stream(self, http: httpx.Client, q: str) -> tuple:
        r = http.post("/api/ask/stream", json={"question": q})
        r.raise_for_status()
        events = sse_events(r.text)
        if not events or events[-1]["type"] != "done" or any(e["type"] == "error" for e in events):
            raise AssertionError(f"stream ended with {[e['type'] for e in events][-3:]}")
        return answer_key(events[-1]["answer"])

    def ledger(self, http: httpx.Client, speaker: str) -> tuple:
        r = http.get("/api/claims", params={"speaker": speaker, "group": "speaker"})
        r.raise_for_status()
        return tuple((g["speaker_key"], len(g["claims"])) for g in r.json())

    def article(self, http: httpx.Client, article_id: str) -> tuple:
        r = http.get(f"/api/articles/{article_id}")
        r.raise_for_status()
        a = r.json()
        return (a["text"], len(a["sentences"]), len(a["claims"]))

    def chat(self, client, q: str) -> tuple:
        history, box = client.predict(q, [], api_name="/respond")
        reply = history[-1]["content"]
        reply = reply if isinstance(reply, str) else json.dumps(reply)
        if "could not answer" in reply.lower():
            raise AssertionError(f"chat failed: {reply[:200]}")
        return (reply,)

    def requests(self) -> list[tuple[str, str]]:
        out = [(kind, q) for q in self.asked for kind in ("ask", "stream")]
        out += [("ledger", s) for s in ("reyland", "ministry", "Halm")] + [("article", a) for a in self.articles]
        return out

    def baseline(self, chat_client) -> None:
        """Record the unloaded reply of every request (called before and after the load)."""
        with httpx.Client(base_url=self.base, timeout=600, trust_env=False) as http:
            for kind, arg in self.requests():
                self.expected.setdefault((kind, arg), set()).add(getattr(self, kind)(http, arg))
            for q in self.asked[:4]:
                self.expected.setdefault(("chat", q), set()).add(self.chat(chat_client, q))

    def client(self, seed: int, until: threading.Event, chat_client) -> None:
        rng = random.Random(seed)
        plan = [("chat", q) for q in self.asked[:4]] if chat_client else self.requests()  # chat clients only chat
        with httpx.Client(base_url=self.base, timeout=600, trust_env=False) as http:
            while not until.is_set():
                kind, arg = rng.choice(plan)
                try:
                    got = self.chat(chat_client, arg) if kind == "chat" else getattr(self, kind)(http, arg)
                    with self.lock:
                        self.done[kind] += 1
                        self.seen.setdefault((kind, arg), []).append(got)
                except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                    with self.lock:
                        self.errors.append(f"{kind} {arg!r}: {type(e).__name__}: {str(e)[:200]}")

    def run(self, seconds_at_least: float, ingest: Ingest, db_path: Path, chat_clients) -> None:
        self.seen: dict[tuple, list] = {}
        until = threading.Event()
        threads = [threading.Thread(target=self.client, args=(i, until, chat_clients[i] if i < len(chat_clients) else None), daemon=True)
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        started = time.monotonic()
        report = ingest.finish(db_path)  # waits as long as the ingest makes progress
        assert report["failed"] == [], report
        while time.monotonic() - started < seconds_at_least:
            time.sleep(0.5)
        until.set()
        for t in threads:
            t.join()


def run_load(tmp_path: Path, articles: int, seconds: float) -> dict:
    gradio_client = pytest.importorskip("gradio_client")
    home = tmp_path / "home"
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    Ingest(SAMPLES, env).finish(home / "catalogue.sqlite3")
    corpus = tmp_path / "astro.jsonl"
    write_load_corpus(corpus, articles)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(home)]
    with serving(command, f"{base}/healthz", name="whosaid serve"):
        chats = [gradio_client.Client(f"{base}/chat/", verbose=False) for _ in range(6)]
        load = Load(base, questions(16), ["01-harbour-minister-denies-port-sale", "10-water-authority-rules-out-rationing"])
        load.baseline(chats[0])
        load.run(seconds, Ingest(corpus, env), home / "catalogue.sqlite3", chats)
        load.baseline(chats[0])  # after the ingest: the other answer a loaded request may equal
        wrong = [f"{kind} {arg!r}" for (kind, arg), replies in load.seen.items() for r in replies if r not in load.expected[(kind, arg)]]
        after = httpx.post(f"{base}/api/ask", json={"question": "What did Ilse Varga say about comet C/2031?"}, timeout=600, trust_env=False).json()
    total = sum(load.done.values())
    print(f"RELIABILITY load tried={total + len(load.errors)} passed={total - len(wrong)} lost=0 "
          f"errors={len(load.errors)} wrong={len(wrong)} by_kind={dict(load.done)}")
    assert load.errors == [], load.errors[:10]
    assert wrong == [], wrong[:10]
    assert set(load.done) == {"ask", "stream", "ledger", "article", "chat"} and total >= CLIENTS
    assert any(c["article_id"] == "astro-0005" for c in after["citations"]), after  # the server sees what was ingested
    return dict(load.done)


def test_32_clients_during_an_ingest(tmp_path: Path) -> None:
    run_load(tmp_path, articles=60, seconds=20)


@pytest.mark.soak
def test_32_clients_during_a_long_ingest(tmp_path: Path) -> None:
    run_load(tmp_path, articles=600, seconds=180)
