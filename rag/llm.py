"""The one factory for chat models: OpenAI, or any OpenAI-compatible server through a base URL."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from rag.settings import LLMSettings


def make_chat_model(settings: LLMSettings) -> BaseChatModel | None:
    """A LangChain ``ChatOpenAI`` for the configured endpoint, or None when none is configured.

    langchain-openai sends the output limit as ``max_completion_tokens``, which llama.cpp's server
    and some others ignore (generation then runs to the context limit), so for a custom base URL
    the classic ``max_tokens`` is sent as well.
    """
    if not settings.configured:
        return None
    from langchain_openai import ChatOpenAI

    custom = bool(settings.base_url)
    return ChatOpenAI(
        model=settings.model or ("local" if custom else "gpt-4o-mini"),
        base_url=settings.base_url or None,
        api_key=settings.api_key or "not-needed",
        timeout=settings.timeout,
        max_retries=settings.retries,
        max_tokens=settings.max_tokens,
        temperature=0,
        extra_body={"max_tokens": settings.max_tokens} if custom else None,
        stream_usage=True,
    )
