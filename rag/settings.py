"""One settings root for the whole product (``WHOSAID_*`` environment variables).

Nested sections use ``__`` in variable names, e.g. ``WHOSAID_CHUNKING__WINDOW=4``.
The settings that change vectors are hashed into the index name (see :meth:`Settings.space`),
so changing the embedder or chunking never mixes incompatible vectors in one collection.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Bumped when sentence splitting or chunk construction changes in a way that changes vectors.
PIPELINE_VERSION = "1"  # noqa


class EmbedderSettings(BaseModel):
    provider: Literal["minilm-onnx", "openai"] = Field(
        default="minilm-onnx", description="minilm-onnx: bundled all-MiniLM-L6-v2 int8, offline. openai: OpenAI embeddings API"
    )
    openai_model: str = Field(default="text-embedding-3-small", description="Model name when provider=openai")
    batch_size: int = Field(default=32, ge=1, description="Texts per forward pass")
    max_tokens: int = Field(default=256, ge=16, le=512, description="Truncation length in word pieces")
    threads: int = Field(default=0, ge=0, description="onnxruntime intra-op threads (0: library default)")


class ChunkingSettings(BaseModel):
    window: int = Field(default=3, ge=1, description="Sentences per chunk")
    overlap: int = Field(default=1, ge=0, description="Sentences shared by neighbouring chunks")
    max_chars: int = Field(default=1200, ge=100, description="A chunk stops growing past this many characters")

    @field_validator("overlap")
    @classmethod
    def _overlap_below_window(cls, v: int, info) -> int:
        window = info.data.get("window", 3)
        if v >= window:
            raise ValueError(f"overlap ({v}) must be smaller than window ({window})")
        return v


class RetrievalSettings(BaseModel):
    k: int = Field(default=10, ge=1, description="Candidate sentences handed to the answerer")
    fetch: int = Field(default=30, ge=1, description="Chunks fetched from each of the dense and lexical retrievers")
    chunks: int = Field(default=8, ge=1, description="Best fused chunks whose sentences become candidates")
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal rank fusion constant")
    dense_weight: float = Field(default=0.6, ge=0, le=1, description="Weight of the dense score in a sentence's score")
    expand_articles: int = Field(default=4, ge=0, description="Best articles whose every sentence is scored, not only the retrieved chunk's")
    lead_bonus: float = Field(default=0.1, ge=0, description="Added to an article's opening sentence (lede, definition)")
    title_bonus: float = Field(default=0.1, ge=0, description="Added to sentences of an article whose title the question names")
    link_bonus: float = Field(default=0.2, ge=0, description="Added to sentences of an article whose title the best chunks mention")
    spread: int = Field(default=2, ge=1, description="Best articles whose best sentence is always among the first k candidates")


class AnswerSettings(BaseModel):
    min_score: float = Field(default=0.45, description="Below this best sentence score the answerer abstains")
    max_sentences: int = Field(default=3, ge=1, description="Most sentences the extractive answer quotes")
    relative: float = Field(default=0.85, ge=0, le=1, description="Further sentences must score this share of the best")
    second_article: float = Field(
        default=0.7, ge=0, le=1.01, description="Another article's best sentence is quoted too when it scores this share of the best (above 1: never)"
    )


class IngestSettings(BaseModel):
    """Caps that keep one hostile or broken input from hanging or swamping an ingest; each refusal names its cap."""

    max_file_bytes: int = Field(default=64 * 1024 * 1024, ge=1, description="Files larger than this are refused")
    max_article_chars: int = Field(default=2_000_000, ge=100, description="Articles longer than this are refused")
    max_file_seconds: float = Field(default=300.0, gt=0, description="Reading one file's records stops after this long")
    fetch_timeout: float = Field(default=20.0, gt=0, description="Seconds a feed or page fetch may wait to connect or for more bytes; a whole fetch ends after 3x this")
    max_fetch_bytes: int = Field(default=10 * 1024 * 1024, ge=1, description="Feeds and pages larger than this are refused")
    max_redirects: int = Field(default=5, ge=0, description="Redirects a fetch follows (each to http or https only)")


class AttributionSettings(BaseModel):
    """How attribution questions pick claims (see rag/attribution/answer.py)."""

    topic_coverage: float = Field(default=0.4, ge=0, le=1, description="Share of the topic's term weight a claim's words (or its article's title) must cover")
    topic_dense: float = Field(default=0.15, ge=-1, le=1, description="... with at least this similarity of the claim's sentences to the topic")
    topic_missing: float = Field(default=0.3, ge=0, le=1, description="... lacking no single topic term that carries more than this share of its weight")
    topic_score: float = Field(default=0.45, ge=0, le=1, description="... and the mean of coverage and similarity at least this")
    topic_strong: float = Field(default=0.7, ge=-1, le=1.01, description="A claim whose sentences are this similar matches on meaning alone")
    word_similarity: float = Field(
        default=0.7, ge=0, le=1.01, description="A topic word missing as written counts when an evidence word with its first letter is this similar"
    )
    topic_relative: float = Field(default=0.8, ge=0, le=1, description="Matching claims must score this share of the best one")
    max_claims: int = Field(default=8, ge=1, description="Most claims an answer about a topic lists")
    max_listed: int = Field(default=30, ge=1, description="Most claims an answer without a topic lists ('Who denied what?')")


class LinksSettings(BaseModel):
    """Cross-article links (rag/attribution/links.py): a denial or response in one article to what another reported."""

    enabled: bool = Field(default=True, description="Compute links at ingest (false: only `whosaid links --rebuild` does)")
    threshold: float = Field(default=0.45, ge=-1, le=1.01, description="Least score of a link: the mean of the similarity by meaning "
                             "of the answering claim's content and the answered sentence, and the share of the content's term weight "
                             "the sentence holds (tuned on evals/suites/desk_links.jsonl)")
    contradicts_margin: float = Field(default=0.05, ge=0, le=1, description="A speaker contradicting themself needs this much less: the "
                                      "same speaker and the opposite stance are evidence besides the meaning (tuned on the same suite)")
    unknown_date: float = Field(default=0.6, ge=-1, le=1.01, description="... when either article's date is unknown, so their order "
                                "cannot be checked (fail safe: higher than threshold)")
    neighbours: int = Field(default=24, ge=1, le=200, description="Nearest chunks read per answering claim and per chunk of a new article")
    respond_stances: list[str] = Field(default_factory=lambda: ["confirm"],
                                       description="Stances whose claims are linked as responses ('responds') to a report in another article. "
                                       "Not 'accuse' by default: an accusation seldom answers a report, and of a sample of FA-KES links most "
                                       "made from accusations were wrong")


class ClaimsSettings(BaseModel):
    lexicon: Path | None = Field(
        default=None,
        description="The attribution lexicon (TOML) for extraction and questions; default: the bundled rag/attribution/lexicon.toml. "
        "Changing it re-extracts every article on the next ingest",
    )


class LLMSettings(BaseSettings):
    """The chat model endpoint (built by :func:`rag.llm.make_chat_model`); ``WHOSAID_LLM_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="WHOSAID_LLM_", extra="ignore", populate_by_name=True)

    base_url: str = Field(
        default="", validation_alias=AliasChoices("WHOSAID_LLM_BASE_URL", "OPENAI_BASE_URL", "base_url"),
        description="OpenAI-compatible server (vLLM, llama.cpp, Ollama); empty: OpenAI itself",
    )
    api_key: str = Field(default="", validation_alias=AliasChoices("OPENAI_API_KEY", "api_key"), description="Local servers accept any value")
    model: str = Field(default="", description="Model name; default gpt-4o-mini for OpenAI, 'local' for a base URL")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per request")
    retries: int = Field(default=2, ge=0, description="Retries on connection errors, 429 and 5xx")
    max_tokens: int = Field(default=600, ge=16, description="Most tokens the model may generate")
    citations: Literal["auto", "tools", "inline"] = Field(
        default="auto", description="auto: tool-call structured output, inline [n] markers if the server returns none"
    )
    enabled: bool = Field(default=True, description="false forces the extractive answerer")
    price_input: float = Field(default=0.0, ge=0, description="USD per million input tokens, for eval cost figures")
    price_output: float = Field(default=0.0, ge=0, description="USD per million output tokens, for eval cost figures")

    @property
    def configured(self) -> bool:
        return self.enabled and bool(self.base_url or self.api_key)


class ServerSettings(BaseSettings):
    """``whosaid serve``: the JSON API (and the chat). ``WHOSAID_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="WHOSAID_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="WHOSAID_HOST")
    port: int = Field(default=7860, ge=1, le=65535, description="WHOSAID_PORT")
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="WHOSAID_ALLOWED_ORIGINS: pages allowed to embed (comma-separated); default self only"
    )
    auth_token: str = Field(default="", description="WHOSAID_AUTH_TOKEN: when set, the API requires 'Authorization: Bearer TOKEN'")
    root_path: str = Field(default="", description="WHOSAID_ROOT_PATH: path prefix when served behind a reverse proxy")
    max_question_chars: int = Field(default=500, ge=10, description="WHOSAID_MAX_QUESTION_CHARS")
    max_history_turns: int = Field(default=20, ge=0, description="WHOSAID_MAX_HISTORY_TURNS: earlier turns a request may carry")
    max_history_chars: int = Field(default=20_000, ge=0, description="WHOSAID_MAX_HISTORY_CHARS: their characters in all")
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="WHOSAID_MAX_BODY_BYTES: larger request bodies get 413")
    workers: int = Field(
        default_factory=lambda: max(4, 4 * (os.cpu_count() or 1)), ge=1,
        description="WHOSAID_WORKERS: requests answered at once (API threads and the chat queue). Default 4 per CPU, at "
        "least 4: a request mostly waits (on the LLM endpoint, or on SQLite and ONNX, which release the GIL), so a few "
        "per core keep the CPUs busy without piling up threads; raise it to the endpoint's parallelism (e.g. 32) "
        "when answers take seconds of LLM time",
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split(cls, v):
        return [o.strip() for o in v.split(",") if o.strip()] if isinstance(v, str) else v


class ChromaSettings(BaseModel):
    host: str = Field(default="", description="Chroma server host; empty means embedded PersistentClient in the home dir")
    port: int = Field(default=8000)


def _default_home() -> Path:
    return Path(user_data_dir("whosaid", appauthor=False))


class Settings(BaseSettings):
    """Everything configurable, read from ``WHOSAID_*`` variables (and ``OPENAI_API_KEY``)."""

    model_config = SettingsConfigDict(env_prefix="WHOSAID_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Data directory: the SQLite catalogue and embedded Chroma")
    catalogue_url: str = Field(
        default="", description="WHOSAID_CATALOGUE_URL: postgresql://user@host:port/db for a shared PostgreSQL catalogue; empty: SQLite in the home"
    )
    catalogue_pool: int = Field(default=16, ge=1, description="WHOSAID_CATALOGUE_POOL: PostgreSQL connections per process at most")
    collection: str = Field(default="default", description="Named collection of articles")
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    claims: ClaimsSettings = Field(default_factory=ClaimsSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    attribution: AttributionSettings = Field(default_factory=AttributionSettings)
    links: LinksSettings = Field(default_factory=LinksSettings)
    openai_api_key: str = Field(default="", validation_alias="OPENAI_API_KEY")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="Chat model endpoint (WHOSAID_LLM_* variables)")
    server: ServerSettings = Field(default_factory=ServerSettings, description="whosaid serve")

    @field_validator("collection")
    @classmethod
    def _valid_collection(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}[A-Za-z0-9]|[A-Za-z0-9]", v):
            raise ValueError("collection names use letters, digits, '-' and '_' (1-42 characters)")
        return v

    def index_fingerprint(self) -> str:
        """Hash of every setting that changes the stored vectors or chunks."""
        from rag.embeddings import embedder_identity  # local: keeps settings import light

        payload = {
            "embedder": embedder_identity(self.embedder),
            "chunking": self.chunking.model_dump(),
            "pipeline": PIPELINE_VERSION,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]

    def space(self, collection: str | None = None) -> str:
        """The physical index name: collection plus fingerprint (a valid Chroma collection name)."""
        return f"{collection or self.collection}-{self.index_fingerprint()}"
