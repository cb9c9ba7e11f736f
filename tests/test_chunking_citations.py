from ingest.chunking import make_chunks
from rag.citations import resolve
from rag.extractive import ABSTAIN_TEXT, extract
from rag.settings import AnswerSettings, ChunkingSettings
from rag.types import Candidate, Sentence


def _sentences(n: int, length: int = 20) -> list[Sentence]:
    out, pos = [], 0
    for i in range(n):
        text = f"S{i} " + "x" * (length - 4) + "."
        out.append(Sentence(article_id="a", index=i, text=text, start=pos, end=pos + len(text)))
        pos += len(text) + 1
    return out


def test_windows_overlap_and_cover_every_sentence() -> None:
    chunks = make_chunks("a", "Title", _sentences(7), ChunkingSettings(window=3, overlap=1))
    assert [(c.first, c.last) for c, _ in chunks] == [(0, 2), (2, 4), (4, 6)]
    for chunk, spans in chunks:
        assert chunk.text.startswith("Title\n")
        assert [chunk.text[s:e][:3].strip() for s, e in spans] == [f"S{i}" for i in range(chunk.first, chunk.last + 1)]


def test_long_sentences_make_smaller_windows() -> None:
    chunks = make_chunks("a", "", _sentences(4, length=700), ChunkingSettings(window=3, overlap=1, max_chars=1200))
    assert [(c.first, c.last) for c, _ in chunks] == [(0, 0), (1, 1), (2, 2), (3, 3)]


def test_chunk_ids_are_content_hashes() -> None:
    a = make_chunks("a", "T", _sentences(3), ChunkingSettings())
    b = make_chunks("a", "T", _sentences(3), ChunkingSettings())
    c = make_chunks("a", "Other title", _sentences(3), ChunkingSettings())
    assert [x.id for x, _ in a] == [x.id for x, _ in b]
    assert [x.id for x, _ in a] != [x.id for x, _ in c]


def _cands(scores: list[float]) -> list[Candidate]:
    return [
        Candidate(sentence=Sentence(article_id="art", index=i, text=f"Sentence {i}.", start=i * 12, end=i * 12 + 11), title="T", score=s)
        for i, s in enumerate(scores)
    ]


def test_invented_and_out_of_range_markers_are_removed() -> None:
    shown = _cands([0.9, 0.8])
    text, cites = resolve("Yes [1], and also [7] and [0]. Again [2][2].", shown)
    assert text == "Yes [1], and also and. Again [2][2]."
    assert [(c.marker, c.sentence_id, c.quote) for c in cites] == [(1, "art:0", "Sentence 0."), (2, "art:1", "Sentence 1.")]


def test_extractive_quotes_best_and_close_runners_up() -> None:
    draft = extract("q", _cands([0.9, 0.8, 0.5, 0.88]), AnswerSettings(min_score=0.45, relative=0.85, max_sentences=3))
    assert draft.text == "Sentence 0. [1] Sentence 1. [2] Sentence 3. [4]"
    assert not draft.abstained


def test_extractive_quotes_another_articles_best_sentence_when_nearly_as_good() -> None:
    cands = _cands([1.0, 0.6, 0.75, 0.74])
    for c in cands[2:]:
        c.sentence.article_id = "other"
    draft = extract("q", cands, AnswerSettings(min_score=0.45, relative=0.85, second_article=0.7))
    assert draft.text == "Sentence 0. [1] Sentence 2. [3]"
    assert extract("q", cands, AnswerSettings(min_score=0.45, relative=0.85, second_article=0.8)).text == "Sentence 0. [1]"


def test_extractive_abstains_below_threshold() -> None:
    draft = extract("q", _cands([0.3, 0.2]), AnswerSettings(min_score=0.45))
    assert draft.abstained and draft.text == ABSTAIN_TEXT
    assert extract("q", [], AnswerSettings()).abstained
