"""One contract suite, run against every vector-store client whosaid supports: the embedded
``PersistentClient`` and ``HttpClient`` against a real ``chroma run`` server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deploy.stack import ServerUnavailable, start_chroma
from ingest.pipeline import ingest
from rag.settings import Settings
from rag.store import Store


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    try:
        server = start_chroma(tmp_path_factory.mktemp("chroma-server"))
    except ServerUnavailable as e:
        pytest.skip(str(e))
    with server:
        yield server.port


@pytest.fixture(params=["persistent", "http"])
def make_store(request, hash_embedder, tmp_path):
    """Build stores on one backend; ``**overrides`` become Settings fields."""
    opened: list[Store] = []

    def build(**overrides) -> Store:
        chroma = {}
        if request.param == "http":
            chroma = {"host": "127.0.0.1", "port": request.getfixturevalue("chroma_server")}
        s = Settings(chroma=chroma, **overrides)
        store = Store(s, hash_embedder)
        opened.append(store)
        return store

    yield build
    for s in opened:
        if request.param == "http":  # the server outlives the test: leave it clean
            s.vectors._client.delete_collection(s.space)
        s.close()


def _write(path: Path, name: str, title: str, body: str) -> Path:
    p = path / f"{name}.txt"
    p.write_text(f"{title}\n\n{body}\n")
    return p


def _consistent(store: Store) -> set[str]:
    ids = store.catalogue.chunk_ids(store.space)
    assert store.vectors.ids() == ids
    return ids


def test_write_update_delete(make_store, tmp_path: Path) -> None:
    store = make_store()
    a = _write(tmp_path, "port", "Port sale denied", "The minister denied the port sale. Unions warned of job losses. The talks continue.")
    b = _write(tmp_path, "rates", "Bank holds rates", "The governor ruled out a cut. Inflation is high.")
    r = ingest([tmp_path], store, progress=False)
    assert (r.added, r.updated, r.unchanged) == (2, 0, 0)
    first = _consistent(store)
    assert len(first) >= 2

    a.write_text("Port sale denied\n\nThe minister denied the port sale again. Nobody believed him.\n")
    r = ingest([tmp_path], store, progress=False)
    assert (r.added, r.updated, r.unchanged) == (0, 1, 1)
    second = _consistent(store)
    port_old = {i for i in first if i not in second}
    assert port_old and not (port_old & store.vectors.ids())
    assert store.catalogue.sentences(store.space, "port")[0].text == "The minister denied the port sale again."

    assert store.delete("port") and not store.delete("port")
    remaining = _consistent(store)
    assert remaining and all(c.article_id == "rates" for c in store.catalogue.chunks(store.space))
    assert b.exists()


def test_query_returns_nearest_chunk(make_store, tmp_path: Path) -> None:
    store = make_store()
    _write(tmp_path, "port", "Port", "The minister denied the port sale.")
    _write(tmp_path, "rates", "Rates", "The governor ruled out an interest rate cut.")
    ingest([tmp_path], store, progress=False)
    hits = store.vectors.query(store.embedder.embed_query("governor interest rate cut"), 2)
    top = store.catalogue.chunks(store.space, [hits[0][0]])[0]
    assert top.article_id == "rates" and hits[0][1] > hits[1][1]


def test_reconcile_removes_orphans_and_restores_missing(make_store, tmp_path: Path) -> None:
    store = make_store()
    _write(tmp_path, "port", "Port", "The minister denied the port sale. Unions warned of job losses.")
    ingest([tmp_path], store, progress=False)
    ids = _consistent(store)
    store.vectors.add(["orphan-1"], np.ones((1, store.embedder.dim), np.float32) / 8, [{"article_id": "gone", "first": 0, "last": 0}])
    lost = sorted(ids)[0]
    store.vectors.delete([lost])
    report = store.reconcile()
    assert (report.removed, report.restored) == (1, 1)
    assert _consistent(store) == ids


def _spy_on_ids(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the full listings of the vector store's ids (the O(archive) half of a reconcile)."""
    calls: list[int] = []
    real = store.vectors.ids

    def ids() -> set[str]:
        calls.append(1)
        return real()

    monkeypatch.setattr(store.vectors, "ids", ids)
    return calls


def test_a_clean_ingest_leaves_no_mark_and_the_next_ingest_does_not_diff(make_store, tmp_path: Path, monkeypatch) -> None:
    store = make_store()
    src = tmp_path / "src"
    src.mkdir()
    _write(src, "port", "Port", "The minister denied the port sale. Unions warned of job losses.")
    ingest([src], store, progress=False)  # a space never seen counts as marked: this one reconciles (an empty diff)
    assert not store.catalogue.vectors_dirty(store.space)
    listed = _spy_on_ids(store, monkeypatch)
    _write(src, "rates", "Rates", "The governor ruled out a cut. Inflation is high.")
    _write(src, "port", "Port", "The minister confirmed the port sale. Unions warned of job losses.")
    r = ingest([src], store, progress=False)
    assert (r.added, r.updated, r.failed) == (1, 1, [])
    assert store.delete("rates")
    assert listed == []  # neither the ingest nor the delete read every id
    assert not store.catalogue.vectors_dirty(store.space)
    monkeypatch.undo()
    _consistent(store)


class Died(BaseException):
    """Stands for the process dying: no ``except Exception`` catches it, so no clean-up runs."""


def test_a_run_that_dies_after_its_upsert_leaves_the_mark_and_the_next_ingest_removes_the_orphans(
    make_store, tmp_path: Path, monkeypatch
) -> None:
    store = make_store()
    src = tmp_path / "src"
    src.mkdir()
    port = _write(src, "port", "Port", "The minister denied the port sale. Unions warned of job losses.")
    ingest([src], store, progress=False)
    ids = _consistent(store)
    port.write_text("Port\n\nThe minister confirmed the port sale. Dock workers will strike.\n")
    catalogue = type(store.catalogue)

    def dying(self, *args, **kwargs):
        raise Died()

    monkeypatch.setattr(catalogue, "write_article", dying)
    with pytest.raises(Died):
        ingest([src], store, progress=False)
    monkeypatch.undo()
    orphans = store.vectors.ids() - store.catalogue.chunk_ids(store.space)
    assert orphans and store.catalogue.chunk_ids(store.space) == ids
    assert store.catalogue.vectors_dirty(store.space)

    port.write_text("Port\n\nThe minister denied the port sale. Unions warned of job losses.\n")  # nothing left to store
    listed = _spy_on_ids(store, monkeypatch)
    r = ingest([src], store, progress=False)
    assert (r.added, r.updated, r.unchanged) == (0, 0, 1)
    assert len(listed) == 1  # the mark made it reconcile, once
    monkeypatch.undo()
    assert _consistent(store) == ids
    assert not store.catalogue.vectors_dirty(store.space)


def test_a_delete_whose_vectors_stay_leaves_the_mark(make_store, tmp_path: Path, monkeypatch) -> None:
    store = make_store()
    _write(tmp_path, "port", "Port", "The minister denied the port sale. Unions warned of job losses.")
    _write(tmp_path, "rates", "Rates", "The governor ruled out a cut. Inflation is high.")
    ingest([tmp_path], store, progress=False)
    rates = store.catalogue.chunk_ids(store.space, "rates")

    def unreachable(ids) -> None:
        raise ConnectionError("vector store down")

    monkeypatch.setattr(store.vectors, "delete", unreachable)
    with pytest.raises(ConnectionError):
        store.delete("port")
    monkeypatch.undo()
    assert store.catalogue.vectors_dirty(store.space)
    assert store.catalogue.chunk_ids(store.space) == rates and store.vectors.ids() > rates
    ingest([tmp_path / "rates.txt"], store, progress=False)
    assert _consistent(store) == rates
    assert not store.catalogue.vectors_dirty(store.space)


def test_vector_settings_never_share_a_collection(make_store, tmp_path: Path) -> None:
    a = make_store()
    b = make_store(chunking={"window": 1, "overlap": 0})
    assert a.space != b.space
    _write(tmp_path, "port", "Port", "One. Two. Three. Four.")
    ingest([tmp_path], a, progress=False)
    assert b.vectors.count() == 0 and b.catalogue.list_articles(b.space) == []
    ingest([tmp_path], b, progress=False)
    assert a.vectors.count() != b.vectors.count()


def test_more_vectors_than_one_chroma_call_takes(make_store) -> None:
    """Chroma refuses a call with more records than its max batch size (5,461 embedded; a 512 KB
    one-line article has more chunks than that): adds and deletes are split into calls it takes."""
    store = make_store()
    n = store.vectors._client.get_max_batch_size() + 100
    ids = [f"c{i}" for i in range(n)]
    vecs = np.random.default_rng(0).random((n, store.embedder.dim), dtype=np.float32)
    store.vectors.add(ids, vecs, [{"article_id": "long", "first": i, "last": i} for i in range(n)])
    assert store.vectors.ids() == set(ids)
    store.vectors.delete(ids)
    assert store.vectors.ids() == set()


def test_first_use_from_many_threads_opens_the_vector_store_once(make_store) -> None:
    """Concurrent first questions each opened a Chroma client, and Chroma failed some of them
    ("Could not connect to tenant default_tenant"): the store opens it once."""
    import threading

    store = make_store()
    barrier, errors, opened = threading.Barrier(16), [], []

    def first_use() -> None:
        try:
            barrier.wait(timeout=600)
            opened.append(id(store.vectors))
            store.vectors.count()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not errors, errors[0]
    assert len(opened) == 16 and len(set(opened)) == 1


def test_a_vector_search_that_fails_is_retried_then_answered_from_words_alone(make_store, tmp_path: Path, monkeypatch) -> None:
    """An embedded index another process is persisting can be read half-written (seen at 10^5 chunks:
    "Error deserializing pickle file"). A query is retried; if it keeps failing, the question is
    answered from the lexical index rather than not at all."""
    from rag.engine import Engine
    from rag.store import VectorStoreUnavailable
    import rag.store.chroma as chroma

    store = make_store()
    ingest([_write(tmp_path, "port", "Port traffic", "The port handled 1.2 million containers last year. Rain fell on Tuesday.")],
           store, progress=False)
    monkeypatch.setattr(chroma.time, "sleep", lambda s: None)
    collection = store.vectors._collection
    real, calls = collection.query, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("Error deserializing pickle file: trailing bytes found")
        return real(*args, **kwargs)

    monkeypatch.setattr(collection, "query", flaky)
    assert store.vectors.query(store.embedder.embed_query("port sale"), 3) and len(calls) == 3

    def broken(*args, **kwargs):
        raise RuntimeError("Error deserializing pickle file: trailing bytes found")

    monkeypatch.setattr(collection, "query", broken)
    with pytest.raises(VectorStoreUnavailable):
        store.vectors.query(store.embedder.embed_query("port sale"), 3)
    answer = Engine(store).ask("How many containers did the port handle last year?")
    assert not answer.abstained and "1.2 million containers" in answer.citations[0].quote
