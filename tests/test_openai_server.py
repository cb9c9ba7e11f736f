"""Self-test of tests/openai_server.py against the real openai and langchain-openai clients.

All traffic goes to 127.0.0.1; proxies are disabled for the duration of each test."""

from __future__ import annotations

import json
import time

import pytest

openai = pytest.importorskip("openai")

from tests.openai_server import ScriptedOpenAI, Sleep, Status, Text, ToolCall  # noqa: E402

@pytest.fixture
def server():
    with ScriptedOpenAI() as s:
        yield s


def _client(server: ScriptedOpenAI, **kw):
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 5.0)
    return openai.OpenAI(base_url=server.base_url, api_key="x", **kw)


MESSAGES = [{"role": "user", "content": "who said it?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        },
    }
]


# ------------------------------------------------------------------------------------ openai client


def test_base_url_and_models(server: ScriptedOpenAI) -> None:
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    models = _client(server).models.list()
    assert [m.id for m in models.data] == ["scripted"]
    assert server.requests == []  # only chat-completions bodies are recorded


def test_text_non_stream(server: ScriptedOpenAI) -> None:
    server.push(Text("The minister said so."))
    resp = _client(server).chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-")
    assert resp.model == "gpt-test"
    assert isinstance(resp.created, int)
    choice = resp.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "The minister said so."
    assert resp.usage.completion_tokens == len("The minister said so.") // 4
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert server.requests == [{"model": "gpt-test", "messages": MESSAGES}]


def test_text_stream_with_usage(server: ScriptedOpenAI) -> None:
    content = "A fairly long answer that spans several chunks."
    server.push(Text(content, chunk_size=5))
    stream = _client(server).chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.model == "gpt-test" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == [content[i : i + 5] for i in range(0, len(content), 5)]
    assert "".join(pieces) == content
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(content) // 4
    assert server.requests[0]["stream"] is True


def test_stream_without_usage_has_no_usage_chunk(server: ScriptedOpenAI) -> None:
    server.push(Text("short"))
    chunks = list(_client(server).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tool_call_non_stream(server: ScriptedOpenAI) -> None:
    args = '{"q": "Moscow meeting"}'
    server.push(ToolCall("lookup", args))
    resp = _client(server).chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert (call.id, call.type, call.function.name, call.function.arguments) == ("call_1", "function", "lookup", args)
    assert server.requests[0]["tools"] == TOOLS


def test_tool_call_stream_assembles_malformed_arguments(server: ScriptedOpenAI) -> None:
    args = '{"q": "an argument string long enough to be split", "broken": '  # deliberately malformed
    server.push(ToolCall("lookup", args, chunk_size=7))
    stream = _client(server).chat.completions.create(
        model="m", messages=MESSAGES, tools=TOOLS, stream=True, stream_options={"include_usage": True}
    )
    name, assembled, finish, usage = None, "", None, None
    for c in stream:
        if c.usage:
            usage = c.usage
        for choice in c.choices:
            for tc in choice.delta.tool_calls or []:
                assert tc.index == 0
                if tc.function.name:
                    name = tc.function.name
                    assert tc.id == "call_1"
                assembled += tc.function.arguments or ""
            finish = choice.finish_reason or finish
    assert (name, assembled, finish) == ("lookup", args, "tool_calls")
    assert usage is not None


def test_500_and_empty_queue(server: ScriptedOpenAI) -> None:
    client = _client(server)
    server.push(Status(500, "boom"))
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 500
    assert info.value.body["message"] == "boom"
    # Nothing queued: 500 too, and the request is still recorded.
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(server.requests) == 2


def test_429_is_retried(server: ScriptedOpenAI) -> None:
    server.push(Status(429, "slow down", retry_after=0), Text("after retry"))
    resp = _client(server, max_retries=2).chat.completions.create(model="m", messages=MESSAGES)
    assert resp.choices[0].message.content == "after retry"
    assert len(server.requests) == 2
    assert server.pending == 0


def test_429_without_retries_is_rate_limit_error(server: ScriptedOpenAI) -> None:
    server.push(Status(429, "slow down", retry_after=0))
    with pytest.raises(openai.RateLimitError) as info:
        _client(server).chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.body["type"] == "rate_limit_error"
    assert info.value.response.headers["retry-after"] == "0"


def test_sleep_triggers_client_timeout(server: ScriptedOpenAI) -> None:
    server.push(Sleep(3.0, Text("too late")), Text("on time"))
    client = _client(server, timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert time.monotonic() - t0 < 2.0
    # The server keeps serving other requests while the sleeper is still asleep.
    resp = client.chat.completions.create(model="m", messages=MESSAGES)
    assert resp.choices[0].message.content == "on time"


def test_stop_does_not_hang_on_sleep() -> None:
    server = ScriptedOpenAI().start()
    server.push(Sleep(30.0, Text("never")))
    client = _client(server, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=MESSAGES)
    t0 = time.monotonic()
    server.stop()
    server.stop()  # idempotent
    assert time.monotonic() - t0 < 1.0


# ------------------------------------------------------------------------------------ langchain


def test_langchain_chat_openai(server: ScriptedOpenAI) -> None:
    pytest.importorskip("langchain_openai")
    from langchain_core.messages import AIMessage
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel, Field

    class Lookup(BaseModel):
        """Look up a quote in the article store."""

        speaker: str = Field(description="who said it")
        limit: int = 3

    llm = ChatOpenAI(model="scripted", base_url=server.base_url, api_key="x", max_retries=0, timeout=5)

    server.push(Text("Hello from the script."))
    msg = llm.invoke("hi")
    assert isinstance(msg, AIMessage) and msg.content == "Hello from the script."

    content = "Streaming through LangChain works."
    server.push(Text(content, chunk_size=4))
    chunks = list(llm.stream("hi"))
    assert len(chunks) > 3
    assert "".join(c.content for c in chunks) == content

    server.push(Text(content))
    total = None
    for c in llm.stream("hi", stream_usage=True):
        total = c if total is None else total + c
    assert total.content == content and total.usage_metadata["output_tokens"] == len(content) // 4

    args = {"speaker": "Lavrov", "limit": 2}
    server.push(ToolCall("Lookup", json.dumps(args)))
    msg = llm.bind_tools([Lookup]).invoke("who said it?")
    assert isinstance(msg, AIMessage)
    assert msg.tool_calls[0]["name"] == "Lookup"
    assert msg.tool_calls[0]["args"] == args
    assert msg.tool_calls[0]["id"] == "call_1"
    assert server.requests[-1]["tools"][0]["function"]["name"] == "Lookup"

    server.push(ToolCall("Lookup", '{"speaker": "Lav'))  # malformed JSON arguments
    msg = llm.bind_tools([Lookup]).invoke("who said it?")
    assert msg.tool_calls == [] and msg.invalid_tool_calls[0]["args"] == '{"speaker": "Lav'

    assert all(r["model"] == "scripted" for r in server.requests)
    assert len(server.requests) == 5
