"""A scripted chat model: a queue of replies and a call history (first-class fake, as in simonw/llm).

A reply is a string (assistant text) or a ``ToolReply`` (the assistant calls a tool with raw
argument text, possibly malformed). Streaming splits replies into small chunks, like a server does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


@dataclass
class ToolReply:
    arguments: str
    name: str = "CitedAnswer"


class ScriptedChatModel(BaseChatModel):
    replies: list[Any] = Field(default_factory=list)
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    tools_bound: list[Any] = Field(default_factory=list)
    chunk: int = 7
    supports_tools: bool = True

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any):
        if not self.supports_tools:
            raise NotImplementedError
        self.tools_bound.append((list(tools), kwargs))
        return self

    def _next(self, messages: list[BaseMessage]) -> Any:
        self.calls.append(list(messages))
        if not self.replies:
            raise RuntimeError("scripted model: no reply left")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def _generate(self, messages, stop=None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs) -> ChatResult:
        reply = self._next(messages)
        if isinstance(reply, ToolReply):
            msg = AIMessage(content="", tool_calls=[], invalid_tool_calls=[],
                            additional_kwargs={"tool_calls": [{"id": "c1", "type": "function", "function": {"name": reply.name, "arguments": reply.arguments}}]})
        else:
            msg = AIMessage(content=reply)
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        reply = self._next(messages)
        if isinstance(reply, ToolReply):
            text = reply.arguments
            for i in range(0, max(len(text), 1), self.chunk):
                tc = {"name": reply.name if i == 0 else None, "args": text[i : i + self.chunk], "id": "c1" if i == 0 else None, "index": 0}
                yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[tc]))
        else:
            for i in range(0, len(reply), self.chunk):
                yield ChatGenerationChunk(message=AIMessageChunk(content=reply[i : i + self.chunk]))
