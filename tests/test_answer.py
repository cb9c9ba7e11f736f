"""End to end on real parts: real MiniLM, Chroma on disk, SQLite, the CLI in a subprocess."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from rag.engine import Engine
from rag.retrieve import HybridRetriever
from rag.settings import Settings
from rag.store import Store
from tests.conftest import SAMPLE_ARTICLE, SAMPLES, need_shared

QUESTION = "Who confirmed that Moscow hosted the meeting, and to whom?"
AKP = "A source from Turkey’s ruling Justice and Development Party (AKP) confirmed to al-Modon"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    shutil.copytree(SAMPLES, d / "samples")
    shutil.copy(need_shared(SAMPLE_ARTICLE), d / SAMPLE_ARTICLE.name)
    return d


@pytest.fixture
def engine(corpus: Path, minilm) -> Engine:
    store = Store(Settings(), minilm)
    report = ingest([corpus], store, progress=False)
    assert report.added == len(list(SAMPLES.glob("*.txt"))) + 1 and not report.failed
    return Engine(store)


def test_sample_question_cites_the_akp_sentence(engine: Engine) -> None:
    answer = engine.ask(QUESTION)
    assert not answer.abstained
    assert answer.citations[0].quote.startswith(AKP)
    c = answer.citations[0]
    article = engine.store.catalogue.article(engine.store.space, c.article_id)
    assert article.text[c.start : c.end] == c.quote
    assert f"[{c.marker}]" in answer.text


def test_every_citation_points_at_a_shown_sentence(engine: Engine) -> None:
    for q in [QUESTION, "Who ruled out a tax increase?", "Who denied overpaying for the flu vaccine?"]:
        answer = engine.ask(q)
        # retrieval shows its candidates; a ledger answer shows the sentences of its claims
        shown = {c.sentence.id for c in engine.search.candidates(q)} | {s for c in answer.claims for s in c.sentence_ids}
        assert answer.citations and {c.sentence_id for c in answer.citations} <= shown


def test_unrelated_question_abstains(engine: Engine) -> None:
    answer = engine.ask("What is the capital of Mongolia?")
    assert answer.abstained and answer.citations == [] and answer.text == "The articles do not say."
    # an attribution question says what was not found
    answer = engine.ask("Who denied the airline merger?")
    assert answer.abstained and answer.citations == [] and answer.claims == []
    assert answer.text == "The articles do not report that anyone denied the airline merger."


def test_candidates_are_scored_per_sentence(engine: Engine) -> None:
    cands = engine.search.candidates("Who ruled out a tax increase?", k=10)
    assert len(cands) == 10
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    assert "ruled out a tax increase" in cands[0].sentence.text
    assert len({c.sentence.id for c in cands}) == 10


def test_langchain_retriever_returns_sentence_documents(engine: Engine) -> None:
    docs = HybridRetriever(search=engine.search, k=3).invoke("Who ruled out water rationing?")
    assert len(docs) == 3
    assert docs[0].metadata["article_id"] == "10-water-authority-rules-out-rationing"
    assert docs[0].id == f"{docs[0].metadata['article_id']}:{docs[0].metadata['sentence_index']}"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_ingest_ask_list_delete(corpus: Path, tmp_path: Path) -> None:
    home = tmp_path / "clihome"
    r = _cli(home, "ingest", str(corpus), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"added": len(list(SAMPLES.glob("*.txt"))) + 1, "updated": 0, "unchanged": 0, "failed": []}

    r = _cli(home, "ask", QUESTION, "--json", "-k", "5")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"question", "answer", "abstained", "mode", "citations", "claims", "statements", "notice", "usage", "timings_ms"}
    assert out["statements"] == [] and out["notice"] is None
    assert out["mode"] == "extractive" and out["abstained"] is False
    first = out["citations"][0]
    assert set(first) == {"marker", "article_id", "title", "sentence_index", "text", "start", "end", "page"}
    assert first["page"] is None  # a .txt article has no pages
    assert first["text"].startswith(AKP) and first["article_id"] == "syrian-observer-moscow-meeting"
    assert out["timings_ms"]["total"] > 0

    r = _cli(home, "list", "--json")
    ids = [json.loads(line)["id"] for line in r.stdout.splitlines()]
    assert len(ids) == len(list(SAMPLES.glob("*.txt"))) + 1 and "syrian-observer-moscow-meeting" in ids

    r = _cli(home, "delete", "syrian-observer-moscow-meeting")
    assert r.returncode == 0 and "deleted" in r.stdout
    r = _cli(home, "delete", "syrian-observer-moscow-meeting")
    assert r.returncode == 1 and "no article 'syrian-observer-moscow-meeting'" in r.stderr
    r = _cli(home, "ask", QUESTION, "--json")
    assert all(c["article_id"] != "syrian-observer-moscow-meeting" for c in json.loads(r.stdout)["citations"])

    r = _cli(home, "ingest", str(corpus), "--json")
    assert json.loads(r.stdout) == {"added": 1, "updated": 0, "unchanged": len(list(SAMPLES.glob("*.txt"))), "failed": []}


def test_ask_on_empty_collection_says_what_to_do(tmp_path: Path) -> None:
    r = _cli(tmp_path / "empty", "ask", "Who denied what?")
    assert r.returncode == 2 and "run `whosaid ingest PATH` first" in r.stderr


@pytest.mark.parametrize("command", ["ingest", "ask", "list", "delete"])
def test_every_command_has_help(command: str, tmp_path: Path) -> None:
    r = _cli(tmp_path, command, "--help")
    assert r.returncode == 0 and "Usage" in r.stdout and "--home" in r.stdout


def test_second_hop_brings_in_articles_named_by_the_best_chunks(tmp_path: Path, settings: Settings, hash_embedder) -> None:
    """A multi-hop question names only the first article; its text names the second by title, which
    joins the candidate pool although it shares no word with the question."""
    (tmp_path / "a.json").write_text(json.dumps([
        {"id": "film", "title": "The Harbour Film", "text": "The Harbour Film is a 1999 drama. It was directed by Mira Kessel."},
        {"id": "kessel", "title": "Mira Kessel", "text": "Mira Kessel was born in Lorenz in 1961. She trained as a painter."},
        *[{"id": f"noise{i}", "title": f"Festival report {i}", "text": f"A film director visited the city for festival {i}. The city liked the film."}
          for i in range(30)],
    ]))
    store = Store(settings, hash_embedder)
    ingest([tmp_path], store, progress=False)
    search = Engine(store).search
    # nothing in the question matches the second article's words: only the title link finds it
    ids = {c.sentence.article_id for c in search.candidates("Which city is the birthplace of the director of The Harbour Film?", k=100)}
    assert {"film", "kessel"} <= ids


def test_linked_article_is_read_whole_and_ranks_in_the_first_k(tmp_path: Path, settings: Settings, hash_embedder) -> None:
    """The fact the question hops to sits deep in the linked article, outside its first chunk; it
    still reaches the first ten candidates, above sentences of articles that only share words."""
    kessel = ["Mira Kessel is a film maker.", "She trained as a painter.", "Her first show was in Oslo.",
              "She moved to Rome in 1990.", "She taught in Vienna.", "Her father is the sculptor Aron Kessel."]
    (tmp_path / "a.json").write_text(json.dumps([
        {"id": "film", "title": "The Harbour Film", "text": "The Harbour Film is a 1999 drama. It was directed by Mira Kessel."},
        {"id": "kessel", "title": "Mira Kessel", "text": " ".join(kessel)},
        *[{"id": f"noise{i}", "title": f"Festival report {i}", "text": f"The father of festival {i} was a film director. The city liked the film."}
          for i in range(30)],
    ]))
    store = Store(settings, hash_embedder)
    ingest([tmp_path], store, progress=False)
    top = Engine(store).search.candidates("Who is the father of the director of The Harbour Film?", k=10)
    assert ("kessel", 5) in {(c.sentence.article_id, c.sentence.index) for c in top}


def test_the_second_best_article_keeps_a_place_among_the_first_k(tmp_path: Path, settings: Settings, hash_embedder) -> None:
    long = " ".join(f"The harbour levy rose in year {i} at the harbour." for i in range(12))
    (tmp_path / "a.json").write_text(json.dumps([
        {"id": "long", "title": "Harbour levy", "text": long},
        {"id": "short", "title": "Council minutes", "text": "The council debated the harbour levy once."},
    ]))
    store = Store(settings, hash_embedder)
    ingest([tmp_path], store, progress=False)
    top = Engine(store).search.candidates("harbour levy", k=3)
    assert [c.sentence.article_id for c in top].count("short") == 1


def test_second_hop_matches_a_title_without_its_bracket(tmp_path: Path, settings: Settings, hash_embedder) -> None:
    (tmp_path / "a.json").write_text(json.dumps([
        {"id": "film", "title": "The Harbour Film", "text": "The Harbour Film is a 1999 drama. It was directed by Mira Kessel."},
        {"id": "kessel", "title": "Mira Kessel (director)", "text": "She was born in Lorenz in 1961. She trained as a painter."},
        *[{"id": f"noise{i}", "title": f"Festival report {i}", "text": f"A film director visited the city for festival {i}."} for i in range(30)],
    ]))
    store = Store(settings, hash_embedder)
    ingest([tmp_path], store, progress=False)
    ids = {c.sentence.article_id for c in Engine(store).search.candidates("Which city is the birthplace of the director of The Harbour Film?", k=100)}
    assert "kessel" in ids
