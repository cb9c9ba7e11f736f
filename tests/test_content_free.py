"""Odd and content-free questions never crash: the engine, the CLI, ``/api/ask`` and ``/api/ask/stream``
answer plainly ("The articles do not say."), a clear 422, or an ``error`` event; never a traceback, a
500 or an empty body. A hypothesis property test drives arbitrary strings through the engine and the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from ingest.pipeline import ingest
from rag.engine import NOTHING_ASKED, Engine
from rag.extractive import ABSTAIN_TEXT
from rag.settings import Settings
from rag.store import Store
from rag.types import DeltaEvent
from tests.conftest import SAMPLES, HashEmbedder
from ui.server import create_app

CONTENT_FREE = ["Who?", "Why?", "What about him?", "???", "the", "Did he?", "And then?", "…", "[1]", "What is it?"]


@pytest.fixture(scope="module")
def hash_store(tmp_path_factory: pytest.TempPathFactory):
    """The samples with the deterministic embedder: cheap enough for hundreds of questions."""
    store = Store(Settings(home=tmp_path_factory.mktemp("home")), HashEmbedder())
    ingest([SAMPLES], store, progress=False)
    yield store
    store.close()


def _body(question: str) -> dict:
    """The request body as JSON with ASCII escapes, so lone surrogates ("\\ud800") reach the server as
    a real client can send them."""
    return {"content": json.dumps({"question": question}), "headers": {"content-type": "application/json"}}


def _events(client: TestClient, question: str) -> tuple[int, list[dict]]:
    with client.stream("POST", "/api/ask/stream", **_body(question)) as r:
        lines = [line for line in r.iter_lines()]
        status = r.status_code
    return status, [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


def _check_answer(store: Store, out: dict) -> None:
    """Whatever the question, the answer is well formed and every citation is a real sentence."""
    assert isinstance(out["answer"], str) and out["answer"]
    assert out["abstained"] == (out["citations"] == [])
    for c in out["citations"]:
        article = store.catalogue.article(store.space, c["article_id"])
        assert article is not None and article.text[c["start"] : c["end"]] == c["text"]
        assert f"[{c['marker']}]" in out["answer"]


@pytest.mark.parametrize("question", CONTENT_FREE)
def test_content_free_questions_abstain_plainly(sample_store: Store, question: str) -> None:
    answer = Engine(sample_store).ask(question)
    assert answer.abstained and answer.text == ABSTAIN_TEXT and answer.citations == []
    assert answer.notice == NOTHING_ASKED


def test_content_free_questions_over_the_api(sample_store: Store) -> None:
    client = TestClient(create_app(Settings(home=sample_store.home), engine_factory=lambda s, n: Engine(sample_store), chat=False))
    for question in ("Who?", "Why?", "What about him?"):
        r = client.post("/api/ask", json={"question": question})
        assert r.status_code == 200 and r.json()["abstained"] and r.json()["answer"] == ABSTAIN_TEXT
        status, events = _events(client, question)
        assert status == 200 and events and events[-1]["type"] == "done" and events[-1]["answer"]["abstained"]


def test_cli_answers_content_free_questions_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "WHOSAID_HOME": str(tmp_path / "home")}
    assert subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(SAMPLES)], env=env, capture_output=True).returncode == 0
    for question in ("Who?", "What about him?"):
        r = subprocess.run([sys.executable, "-m", "ui.cli", "ask", question], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == ABSTAIN_TEXT and "Traceback" not in r.stderr


class _Broken(Engine):
    """An engine whose answering fails mid-stream, as a bug or a dead disk would make it."""

    def stream(self, question, k=None, history=()):
        yield DeltaEvent(text="The regional water authority")
        raise RuntimeError("disk on fire")


def test_a_failing_engine_gives_an_error_event_and_a_clear_json_error(sample_store: Store) -> None:
    client = TestClient(create_app(Settings(home=sample_store.home), engine_factory=lambda s, n: _Broken(sample_store), chat=False))
    status, events = _events(client, "Who ruled out water rationing?")
    assert status == 200 and events[-1]["type"] == "error" and "could not answer" in events[-1]["text"]
    assert "disk on fire" not in json.dumps(events)  # internals stay in the server log
    r = client.post("/api/ask", json={"question": "Who ruled out water rationing?"})
    assert r.status_code == 500 and "could not answer" in r.json()["detail"]


QUESTION_LIKE = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(categories=["Cs", "Cc", "Zs", "P", "S"]), max_size=40),
    st.tuples(st.sampled_from(["Who ", "What did ", "Did ", "Who denied ", "What about ", "List all ", ""]), st.text(max_size=40),
              st.sampled_from(["?", "", " deny?", " say about", " and to whom?"])).map("".join),
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(question=QUESTION_LIKE)
def test_property_any_string_through_the_engine(hash_store: Store, question: str) -> None:
    answer = Engine(hash_store).ask(question)
    _check_answer(hash_store, answer.to_json_dict())


@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(question=QUESTION_LIKE)
def test_property_any_string_through_the_api(hash_store: Store, question: str) -> None:
    client = TestClient(create_app(Settings(home=hash_store.home), engine_factory=lambda s, n: Engine(hash_store), chat=False))
    r = client.post("/api/ask", **_body(question))
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["detail"]  # a message, never an empty body
        return
    _check_answer(hash_store, r.json())
    status, events = _events(client, question)
    assert status == 200 and events and events[-1]["type"] == "done"
