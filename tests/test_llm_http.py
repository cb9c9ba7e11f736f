"""The LLM path end to end through the real openai client and ChatOpenAI against a scripted
OpenAI-compatible server on 127.0.0.1: tool calls, inline text, streaming, 429, 500, timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.engine import Engine
from rag.llm import make_chat_model
from rag.settings import LLMSettings, Settings
from rag.store import Store
from tests.conftest import SAMPLES
from tests.servers import free_port
from tests.openai_server import ScriptedOpenAI, Sleep, Status, Text, ToolCall

QUESTION = "What did the water authority decide about rationing?"


@pytest.fixture(scope="module")
def store(sample_store: Store) -> Store:
    return sample_store


@pytest.fixture
def server():
    with ScriptedOpenAI() as s:
        yield s


def engine(store: Store, server: ScriptedOpenAI, **llm) -> Engine:
    settings = LLMSettings(base_url=server.base_url, model="scripted", **{"retries": 0, "timeout": 5, **llm})
    return Engine(store, chat_model=make_chat_model(settings), llm=settings)


def marker(store: Store) -> int:
    return next(n for n, c in enumerate(Engine(store).search.candidates(QUESTION), start=1) if "ruled out water rationing" in c.sentence.text)


def cited(text: str, n: int) -> str:
    return json.dumps({"statements": [{"text": text, "citations": [n]}]})


def test_streamed_tool_call_answer(store: Store, server: ScriptedOpenAI) -> None:
    n = marker(store)
    server.push(ToolCall("CitedAnswer", cited("The authority ruled out water rationing", n), chunk_size=5))
    answer = engine(store, server, max_tokens=123).ask(QUESTION)
    assert answer.mode == "llm" and answer.text == f"The authority ruled out water rationing [{n}]"
    body = server.requests[0]
    assert body["stream"] is True and body["tools"][0]["function"]["name"] == "CitedAnswer"
    # llama.cpp-style servers read max_tokens; OpenAI reads max_completion_tokens: both are sent
    assert body["max_tokens"] == 123 and body["max_completion_tokens"] == 123
    assert "<<<SENTENCES" in body["messages"][1]["content"]
    assert answer.timings["llm"] > 0 and answer.timings["verify"] >= 0


def test_markers_inside_tool_call_statement_text_are_verified(store: Store, server: ScriptedOpenAI) -> None:
    """The model writes markers into a statement's text as well as into its citations list: every one
    is checked; an invented one never reaches a delta, a statement event or the answer."""
    n = marker(store)
    args = json.dumps({"statements": [
        {"text": f"The authority ruled out rationing [{n}] [99]", "citations": []},
        {"text": "Rationing starts on Monday [77] [0, 12345]", "citations": [55]},
        {"text": f"The authority ruled out water rationing [{n}-99] 【98】", "citations": [n]},
    ]})
    server.push(ToolCall("CitedAnswer", args, chunk_size=3))
    events = list(engine(store, server).stream(QUESTION))
    answer = events[-1].answer
    streamed = "".join(e.text for e in events if e.type in ("delta", "statement"))
    for invented in ("[99]", "99", "[77]", "77", "12345", "[0", "【98】", "[55]"):
        assert invented not in answer.text and invented not in streamed, invented
    assert [c.marker for c in answer.citations] == [n]
    assert [(s.citations, s.supported) for s in answer.statements] == [([n], True), ([], False), ([n], True)]
    assert answer.text == f"The authority ruled out rationing [{n}] The authority ruled out water rationing [{n}]"
    assert all(f"[{n}]" not in s.text for s in answer.statements)  # markers render from verified citations only


def test_inline_markers_of_every_shape_are_verified(store: Store, server: ScriptedOpenAI) -> None:
    n = marker(store)
    server.push(Text(f"The authority ruled out water rationing [{n}, 99]. Rationing starts Monday [^77]."))
    events = list(engine(store, server, citations="inline").stream(QUESTION))
    answer = events[-1].answer
    streamed = "".join(e.text for e in events if e.type == "delta")
    assert [c.marker for c in answer.citations] == [n] and "99" not in answer.text + streamed and "77" not in answer.text + streamed
    assert "Rationing starts Monday" not in answer.text


def test_inline_text_answer(store: Store, server: ScriptedOpenAI) -> None:
    n = marker(store)
    server.push(Text(f"The authority ruled out water rationing [{n}]. Invented [88]."))
    answer = engine(store, server, citations="inline").ask(QUESTION)
    assert answer.mode == "llm" and [c.marker for c in answer.citations] == [n]
    assert "tools" not in server.requests[0]


def test_server_without_tools_gets_inline_prompt(store: Store, server: ScriptedOpenAI) -> None:
    n = marker(store)
    server.push(Status(400, "tools are not supported"), Text(f"The authority ruled out water rationing [{n}]."))
    answer = engine(store, server).ask(QUESTION)
    assert answer.mode == "llm" and answer.citations[0].marker == n
    assert "tools" in server.requests[0] and "tools" not in server.requests[1]


def test_429_is_retried(store: Store, server: ScriptedOpenAI) -> None:
    n = marker(store)
    server.push(Status(429, "slow down", retry_after=0), ToolCall("CitedAnswer", cited("The authority ruled out water rationing", n)))
    answer = engine(store, server, retries=1).ask(QUESTION)
    assert answer.mode == "llm" and len(server.requests) == 2


@pytest.mark.parametrize("replies, reason", [
    ([Status(500), Status(500)], "HTTP 500"),
    ([Status(429, retry_after=0), Status(429, retry_after=0)], "HTTP 429 rate limited"),
    ([Sleep(3, Text("too late")), Sleep(3, Text("too late"))], "timed out"),
    ([ToolCall("CitedAnswer", '{"statements": [{"text": 1}')], "malformed output"),
])
def test_failures_fall_back_to_extractive_with_a_notice(store: Store, server: ScriptedOpenAI, replies, reason: str) -> None:
    server.push(*replies)
    answer = engine(store, server, retries=1, timeout=0.5).ask(QUESTION)
    assert answer.mode == "extractive" and reason in answer.notice
    assert "ruled out water rationing" in answer.text and answer.citations


def test_unreachable_endpoint_falls_back(store: Store) -> None:
    settings = LLMSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", retries=0, timeout=2)
    answer = Engine(store, chat_model=make_chat_model(settings), llm=settings).ask(QUESTION)
    assert answer.mode == "extractive" and "could not connect" in answer.notice


def _cli(home: Path, server: ScriptedOpenAI, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHOSAID_HOME": str(home), "OPENAI_BASE_URL": server.base_url, "WHOSAID_LLM_MODEL": "scripted",
           "WHOSAID_LLM_RETRIES": "0"}
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_ask_json_and_stream(tmp_path: Path, server: ScriptedOpenAI) -> None:
    home = tmp_path / "home"
    assert _cli(home, server, "ingest", str(SAMPLES)).returncode == 0
    store = Store(Settings(home=home), None)  # type: ignore[arg-type] - only the catalogue is read
    rows = [c for c in store.catalogue.claims(store.space, stance="rule_out") if "rationing" in c.content]
    assert rows
    server.push(ToolCall("CitedAnswer", json.dumps({"statements": [{"text": "The authority ruled out water rationing", "citations": [1]}]})))
    out = json.loads(_cli(home, server, "ask", "Who ruled out water rationing?", "--json").stdout)
    assert out["mode"] == "llm" and out["notice"] is None
    assert out["statements"] == [{"text": "The authority ruled out water rationing", "citations": [1], "supported": True, "support": out["statements"][0]["support"]}]
    assert "ruled out water rationing" in out["citations"][0]["text"]

    server.push(ToolCall("CitedAnswer", json.dumps({"statements": [{"text": "The authority ruled out water rationing", "citations": [1]}]}), chunk_size=4))
    r = _cli(home, server, "ask", "Who ruled out water rationing?", "--stream")
    assert r.returncode == 0 and r.stdout.startswith("The authority ruled out water rationing [1]")

    server.push(Status(500))
    r = _cli(home, server, "ask", "Who ruled out water rationing?")
    assert r.returncode == 0 and "notice: The language model could not answer" in r.stderr
    r = _cli(home, server, "ask", "Who ruled out water rationing?", "--no-llm", "--json")
    assert json.loads(r.stdout)["mode"] == "extractive" and len(server.requests) == 3


def test_eval_with_llm_records_tokens_and_cost(tmp_path: Path, server: ScriptedOpenAI) -> None:
    suite = tmp_path / "s.jsonl"
    suite.write_text(json.dumps({"corpus": [{"id": "bank", "title": "Bank", "text": "The governor ruled out an emergency rate cut."}]}) + "\n"
                     + json.dumps({"id": "q1", "question": "Who ruled out a rate cut?", "answer": "the governor",
                                   "gold": [{"article_id": "bank", "sentence_index": 0}]}) + "\n")
    server.push(ToolCall("CitedAnswer", json.dumps({"statements": [{"text": "The governor ruled out an emergency rate cut", "citations": [1]}]})),
                Text("yes"))  # the answer, then the support judge
    env = {**os.environ, "WHOSAID_HOME": str(tmp_path / "home"), "WHOSAID_LLM_BASE_URL": server.base_url, "WHOSAID_LLM_RETRIES": "0",
           "WHOSAID_LLM_PRICE_INPUT": "1000000", "WHOSAID_LLM_PRICE_OUTPUT": "0"}
    r = subprocess.run([sys.executable, "-m", "ui.cli", "eval", str(suite), "--llm", "--json", "--no-progress", "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["input_tokens"] > 0 and m["output_tokens"] > 0 and m["cost_usd"] == m["input_tokens"]
    assert m["support"] == 1.0 and m["citation_f1"] == 1.0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["settings"]["answerer"] == "llm" and "configured LLM" in results["settings"]["support_judge"]
    assert server.requests[0]["stream_options"] == {"include_usage": True}
