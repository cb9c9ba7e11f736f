from hypothesis import given, settings as hsettings, strategies as st

from ingest.sentences import split_sentences
from tests.conftest import SAMPLE_ARTICLE, need_shared


def texts(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@hsettings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400))
def test_offsets_always_reproduce_the_text(text: str) -> None:
    spans = split_sentences(text)
    last = 0
    for s, e in spans:
        assert last <= s < e <= len(text)
        assert text[s:e] == text[s:e].strip()  # no sentence starts or ends with whitespace
        last = e
    # every non-space character belongs to some sentence
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


@hsettings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([
    "The U.S. envoy arrived.", "Maj. Gen. Anton Weller confirmed it.", '"We will not sell," he said.',
    "Syria denied this.", "Read Also: Minister Denies Reshuffle", "It rose 3.5 percent at 9 a.m. on Monday.",
]), min_size=1, max_size=8), st.sampled_from([" ", "\n", "\n\n"]))
def test_known_sentences_are_found_whole(parts: list[str], sep: str) -> None:
    # A headline has no final stop: only a line break can end it.
    text = "".join(p + ("\n" if p.startswith("Read Also") else sep) for p in parts)
    found = texts(text)
    for p in set(parts):
        assert p in found


def test_abbreviations_quotes_and_headlines() -> None:
    text = (
        "Minister Denies Port Sale\n"
        "Maj. Gen. Haidara Jawad said the U.S. agents left on Jan. 5. The talks resumed at 9 a.m. on Monday.\n"
        'Read Also: Meslet Denies Turkey\'s Intention to Dialogue with Syrian Regime\n'
        '"We will not sell the port," the minister said. "Is this a joke?" asked Dr. Amal Noor.'
    )
    assert texts(text) == [
        "Minister Denies Port Sale",
        "Maj. Gen. Haidara Jawad said the U.S. agents left on Jan. 5.",
        "The talks resumed at 9 a.m. on Monday.",
        "Read Also: Meslet Denies Turkey's Intention to Dialogue with Syrian Regime",
        '"We will not sell the port," the minister said.',
        '"Is this a joke?" asked Dr. Amal Noor.',
    ]


def test_comma_stripped_wire_text_keeps_quote_with_its_speaker() -> None:
    text = ('Victims appeared to show symptoms the World Health Organization said on Wednesday. '
            '"Some cases appear to show additional signs" WHO said in a statement. The U.S. has said otherwise.')
    assert texts(text) == [
        "Victims appeared to show symptoms the World Health Organization said on Wednesday.",
        '"Some cases appear to show additional signs" WHO said in a statement.',
        "The U.S. has said otherwise.",
    ]


def test_sample_article_sentences() -> None:
    text = need_shared(SAMPLE_ARTICLE).read_text()
    found = texts(text)
    assert "Syria denied this." in found
    assert "Read Also: Meslet Denies Turkey’s Intention to Dialogue with Syrian Regime" in found
    assert any(s.startswith("However, the Turkish source denied this") for s in found)
    assert any(s.startswith("The source pointed to the possibility") and "U.S. agents (SDF)" in s for s in found)


def test_a_long_line_is_split_in_bounded_pieces(monkeypatch) -> None:
    """pysbd is quadratic in a line's length: it must never see more than about PIECE_CHARS at once,
    and the sentences of a long line must be the same as those of the same text one sentence per line."""
    import ingest.sentences as sentences

    made = ["The mayor said the bridge would open in May.", "Mr. Brandt, the U.S. envoy, denied it.",
            "\u201cWe will not sell,\u201d she said.", "Prices rose 3.5 percent on Monday!"]
    line = " ".join(made[i % len(made)] for i in range(2000))  # about 80,000 characters on one line
    seen: list[int] = []
    segments = sentences._segments
    monkeypatch.setattr(sentences, "_segments", lambda text: seen.append(len(text)) or segments(text))
    spans = sentences.split_sentences(line)
    assert max(seen) <= sentences.PIECE_CHARS
    assert [line[s:e] for s, e in spans] == [made[i % len(made)] for i in range(2000)]


def test_a_long_line_without_sentence_ends_keeps_every_character() -> None:
    line = ("word " * 3000) + "x" * 5000  # no sentence end, then no space at all
    spans = split_sentences(line)
    assert "".join(line[s:e] for s, e in spans).replace(" ", "") == line.replace(" ", "")
    assert all(e - s <= 2 * 2000 for s, e in spans)
