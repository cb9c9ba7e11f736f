"""A scripted OpenAI-compatible HTTP server for integration tests (standard library only).

Tests queue replies, point a real client (``openai.OpenAI`` / ``langchain_openai.ChatOpenAI``) at
``server.base_url`` and then inspect ``server.requests``::

    with ScriptedOpenAI() as server:
        server.push(Text("hello"), ToolCall("lookup", '{"q": "x"}'), Status(500))
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        ...

Each POST to ``/v1/chat/completions`` is recorded (its JSON body, in arrival order) and pops one
queued reply; when the queue is empty it asks ``respond(body)`` for one (if given; it runs in the
request's own thread, so it may block, e.g. on a barrier), else answers 500 with an OpenAI-style
error body. ``delay`` seconds pass before every reply (interrupted by ``stop()``); requests are served
concurrently, one thread each, so N requests with a 2 s delay take about 2 s, not 2N.
:func:`cite_best` is a ``respond`` that answers like a model would: it quotes the shown sentence
sharing most words with the question and cites its number (CitedAnswer tool call, or inline ``[n]``).
``GET /v1/models`` lists a single model, ``scripted``. The server binds 127.0.0.1 on a free port,
logs nothing, and ignores clients that hang up.

Wire format: non-streaming responses are HTTP/1.1 with ``Content-Length`` (keep-alive works);
streaming responses are Server-Sent Events in the ``chat.completion.chunk`` format, sent with
``Connection: close`` and delimited by closing the connection.
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union

__all__ = ["ScriptedOpenAI", "Text", "ToolCall", "Status", "Sleep", "Reply", "cite_best", "shown_sentences"]


# --------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Text:
    """An ordinary assistant message; streamed in pieces of ``chunk_size`` characters."""

    content: str
    chunk_size: int = 8


@dataclass(frozen=True)
class ToolCall:
    """The assistant calls one tool. ``arguments`` is sent verbatim (it may be malformed JSON)."""

    name: str
    arguments: str
    chunk_size: int = 12


@dataclass(frozen=True)
class Status:
    """An HTTP error status with an OpenAI-style error body (and optionally a retry-after header)."""

    code: int
    message: str = "scripted error"
    retry_after: float | None = None


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` (interrupted by ``stop()``), then send ``then``. Used to force timeouts."""

    seconds: float
    then: "Reply"


Reply = Union[Text, ToolCall, Status, Sleep]

_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


def _rough_tokens(text: str) -> int:
    return len(text) // 4


def _prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "".join(parts)


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, int(size))
    return [text[i : i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many clients connecting at once are queued, not dropped

    def __init__(self, scripted: "ScriptedOpenAI") -> None:
        self.scripted = scripted
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Hang up on every open connection (idle keep-alive ones included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # noqa: D401 - silence, always
        # Clients hanging up (timeouts, cancelled streams) are expected; never print tracebacks.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    # -- plumbing ------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (*_DISCONNECTS, OSError):
            self.close_connection = True

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    def _send_json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = "rate_limit_error" if code == 429 else "server_error"
        self._send_json(code, {"error": {"message": message, "type": kind, "code": None}}, headers)

    # -- routes --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self._path() == "/v1/models":
            self._send_json(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
        else:
            self._send_error(404, f"no route for GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if self._path() != "/v1/chat/completions":
            self._send_error(404, f"no route for POST {self.path}")
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_error(400, "request body is not a JSON object")
            return
        scripted = self.server.scripted
        scripted._record(body)
        reply = scripted._pop()
        if reply is None and scripted.respond is not None:
            reply = scripted.respond(body)
        if reply is None:
            self._send_error(500, "ScriptedOpenAI: no scripted reply queued")
            return
        if scripted.delay > 0 and scripted._stopping.wait(scripted.delay):
            self.close_connection = True  # shutting down: hang up without answering
            return
        self._reply(body, reply)

    # -- replies -------------------------------------------------------------------------------

    def _reply(self, body: dict[str, Any], reply: Reply) -> None:
        scripted = self.server.scripted
        if isinstance(reply, Sleep):
            if scripted._stopping.wait(reply.seconds):
                self.close_connection = True  # shutting down: hang up without answering
                return
            self._reply(body, reply.then)
        elif isinstance(reply, Status):
            headers = {}
            if reply.retry_after is not None:
                ra = reply.retry_after
                headers["retry-after"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            self._send_error(reply.code, reply.message, headers)
        elif isinstance(reply, (Text, ToolCall)):
            if body.get("stream"):
                self._stream(body, reply)
            else:
                self._complete(body, reply)
        else:
            self._send_error(500, f"ScriptedOpenAI: unknown reply {reply!r}")

    def _usage(self, body: dict[str, Any], reply: Text | ToolCall) -> dict[str, int]:
        prompt = _rough_tokens(_prompt_text(body))
        completion = _rough_tokens(reply.content if isinstance(reply, Text) else reply.name + reply.arguments)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _complete(self, body: dict[str, Any], reply: Text | ToolCall) -> None:
        if isinstance(reply, Text):
            message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
            finish = "stop"
        else:
            message = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": reply.name, "arguments": reply.arguments}}
                ],
            }
            finish = "tool_calls"
        payload = {
            "id": self.server.scripted._next_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or "scripted",
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": self._usage(body, reply),
        }
        self._send_json(200, payload)

    def _stream(self, body: dict[str, Any], reply: Text | ToolCall) -> None:
        completion_id = self.server.scripted._next_id()
        created = int(time.time())
        model = body.get("model") or "scripted"
        stream_options = body.get("stream_options") or {}
        include_usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }

        events: list[dict[str, Any]] = []
        if isinstance(reply, Text):
            events.append(chunk({"role": "assistant", "content": ""}))
            events += [chunk({"content": piece}) for piece in _pieces(reply.content, reply.chunk_size)]
            events.append(chunk({}, "stop"))
        else:
            events.append(
                chunk(
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": reply.name, "arguments": ""},
                            }
                        ],
                    }
                )
            )
            events += [
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                for piece in _pieces(reply.arguments, reply.chunk_size)
            ]
            events.append(chunk({}, "tool_calls"))
        if include_usage:
            usage_chunk = chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self._usage(body, reply)
            events.append(usage_chunk)

        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        for event in events:
            self.wfile.write(b"data: " + json.dumps(event).encode("utf-8") + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


# --------------------------------------------------------------------------------------- public


class ScriptedOpenAI:
    """An OpenAI-compatible server on 127.0.0.1 that answers with replies queued by ``push`` (then, when
    none is queued, with ``respond(body)``), each after ``delay`` seconds."""

    def __init__(self, respond: Callable[[dict], Reply | None] | None = None, delay: float = 0.0) -> None:
        self.respond = respond
        self.delay = delay
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "ScriptedOpenAI":
        if self._server is not None:
            raise RuntimeError("ScriptedOpenAI already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="ScriptedOpenAI", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes any Sleep replies
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "ScriptedOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- script --------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("ScriptedOpenAI not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def push(self, *replies: Reply) -> None:
        """Queue replies; each chat-completions request consumes one, in order."""
        for reply in replies:
            if not isinstance(reply, (Text, ToolCall, Status, Sleep)):
                raise TypeError(f"not a Reply: {reply!r}")
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many queued replies have not been consumed yet."""
        with self._lock:
            return len(self._queue)

    # -- used by the handler -------------------------------------------------------------------

    def _record(self, body: dict) -> None:
        with self._lock:
            self.requests.append(body)

    def _pop(self) -> Reply | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _next_id(self) -> str:
        with self._lock:
            return f"chatcmpl-{next(self._ids)}"


# --------------------------------------------------------------------------------------- answers

_SHOWN = re.compile(r"^\[(\d+)\] (?=\")", re.M)


def _user_text(body: dict[str, Any]) -> str:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    content = messages[-1].get("content") if messages else ""
    return content if isinstance(content, str) else ""


def shown_sentences(body: dict[str, Any]) -> tuple[str, dict[int, str]]:
    """The question and the numbered sentences of a whosaid answer prompt (``Question: "..."`` then
    ``[n] "sentence" (article ...)`` lines); ``("", {})`` for any other prompt."""
    text = _user_text(body)
    decoder = json.JSONDecoder()
    question = ""
    if text.startswith("Question: "):
        try:
            question = decoder.raw_decode(text, len("Question: "))[0]
        except ValueError:
            question = ""
    shown: dict[int, str] = {}
    for m in _SHOWN.finditer(text):
        try:
            shown[int(m.group(1))] = decoder.raw_decode(text, m.end())[0]
        except ValueError:
            continue
    return question, shown


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def cite_best(body: dict[str, Any]) -> Reply:
    """A valid answer to a whosaid prompt: the shown sentence sharing most words with the question
    (the first on a tie), quoted as one statement citing its number; a CitedAnswer tool call when
    the request offers tools, else inline ``[n]`` text. A question-rewrite prompt gets the question
    back; a prompt with no sentences gets "The articles do not say." """
    question, shown = shown_sentences(body)
    if not shown:
        text = _user_text(body)
        last = text.rsplit("user: ", 1)[-1].strip() if "user: " in text else ""
        return Text(last or "The articles do not say.")
    asked = _words(question)
    n = max(sorted(shown), key=lambda i: (len(asked & _words(shown[i])), -i))
    if body.get("tools"):
        return ToolCall("CitedAnswer", json.dumps({"statements": [{"text": shown[n], "citations": [n]}]}))
    return Text(f"{shown[n]} [{n}]")


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.openai_server [--delay S]``: serve :func:`cite_best` answers on 127.0.0.1 in a
    process of its own (a load generator's threads then cannot slow its replies), print its base URL
    on one line, and run until stdin closes or the process is terminated."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m tests.openai_server", description=main.__doc__)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before every reply")
    args = ap.parse_args(argv)
    with ScriptedOpenAI(respond=cite_best, delay=args.delay) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()  # until stdin closes (the parent ended, or closed it)


if __name__ == "__main__":
    main()
