"""Shared fixtures. Fakes are first-class: a deterministic embedder, and every test gets its own
data directory so nothing touches the user's real one."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from rag.settings import Settings

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "articles"
SAMPLE_ARTICLE = SHARED_DATA / "articles" / "syrian-observer-moscow-meeting.txt"


class HashEmbedder:
    """Deterministic bag-of-words embedder (hashing trick): texts sharing words are close."""

    dim = 64

    def __init__(self) -> None:
        self.calls = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vec(text)

    def embed_with_spans(self, texts, spans):
        return self.embed(texts), [np.stack([self._vec(t[s:e]) for s, e in ss]) if ss else np.zeros((0, self.dim), np.float32) for t, ss in zip(texts, spans)]


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test traffic goes to 127.0.0.1 directly, never through a proxy from the environment."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WHOSAID_LLM_BASE_URL", "WHOSAID_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("WHOSAID_HOME", str(home))
    monkeypatch.delenv("WHOSAID_COLLECTION", raising=False)
    return home


@pytest.fixture
def settings(_isolated_home: Path) -> Settings:
    return Settings()


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def minilm():
    """The real bundled embedder, loaded once per test session."""
    from rag.embeddings import MiniLMOnnxEmbedder

    return MiniLMOnnxEmbedder()


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory, minilm):
    """The bundled sample articles ingested with the real embedder (one store per test module)."""
    from ingest.pipeline import ingest
    from rag.store import Store

    store = Store(Settings(home=tmp_path_factory.mktemp("home")), minilm)
    ingest([SAMPLES], store, progress=False)
    yield store
    store.close()


def need_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"development data not present: {path}")
    return path
