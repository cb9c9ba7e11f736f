"""What the chat shows, without a browser: attribution answers grouped by speaker and article, article
links only for http(s) URLs, the ledger table escaped (the browser tests look at the same in Chromium)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from rag.types import Article, Citation, Claim, Sentence
from ui.chat_render import LedgerRow, ledger_html, render_answer, safe_url, show_date

MD = MarkdownIt("commonmark")


def claim(article_id: str, speaker: str, content: str, idx: int, cue: str = "denied", role: str = "") -> Claim:
    return Claim(article_id=article_id, speaker=speaker, speaker_key=speaker.lower(), speaker_mention=speaker, speaker_role=role,
                 cue=cue, stance="deny", cue_lemma="deny", content=content, sentence_ids=[f"{article_id}:{idx}"])


def cite(marker: int, article_id: str, idx: int) -> Citation:
    return Citation(marker=marker, sentence_id=f"{article_id}:{idx}", article_id=article_id, title=f"T {article_id}",
                    quote=f"sentence {idx}", sentence_index=idx, start=idx * 10, end=idx * 10 + 9)


ARTICLES = {
    "a": Article(id="a", title="Port *not* for sale", source="Ledger", published="2026-03-03", url="https://news.example/a?x=(1)", text="x"),
    "b": Article(id="b", title="Talks resume", source="Courier", published="March 2026", url="javascript:alert(1)", text="x"),
}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "a":
            self.links.append(dict(attrs))


def parsed(markup: str) -> Links:
    p = Links()
    p.feed(markup)
    return p


def test_attribution_answer_groups_claims_by_speaker_then_article() -> None:
    claims = [claim("a", "Tomas Reyland", "that the port is for sale", 1, role="harbour minister"),
              claim("a", "Irena Vasko", "that the minutes exist", 2),
              claim("b", "Tomas Reyland", "that talks resumed", 3, cue="has denied", role="Valdoria's harbour minister")]
    text = "No.\nTomas Reyland — deny — that the port is for sale [1]\nIrena Vasko — deny — x [2]\nTomas Reyland — deny — y [3]"
    md = render_answer(text, [cite(1, "a", 1), cite(2, "a", 2), cite(3, "b", 3)], None, claims, ARTICLES)
    html = MD.render(md)
    assert html.count("<strong>Tomas Reyland</strong>") == 1 and html.count("<strong>Irena Vasko</strong>") == 1
    reyland = html[html.index("Tomas Reyland"):html.index("Irena Vasko")]
    assert "<em>Port *not* for sale</em>" in reyland  # the title's Markdown is text
    assert reyland.index("Ledger · 3 Mar 2026") < reyland.index("Courier · March 2026")  # both of his articles under him
    assert "deny (has denied) — that talks resumed" in reyland
    assert "Valdoria's harbour minister" in reyland and "harbour minister; " not in reyland  # roles without repeats
    assert html.startswith("<p>No.</p>")  # the ledger's lead line kept, its claim lines not repeated
    assert "— deny — that the port is for sale" not in html
    hrefs = [a["href"] for a in parsed(html).links]
    assert hrefs.count("https://news.example/a?x=%281%29") == 2  # under each speaker who spoke in it; encoded
    assert not any(h.startswith("javascript") for h in hrefs)  # ... a javascript: URL is not
    assert [h for h in hrefs if h.startswith("#cite/")] == ["#cite/a/10/19", "#cite/b/30/39", "#cite/a/20/29"]


def test_plain_answer_keeps_its_look() -> None:
    md = render_answer("The port handled 1.2 million containers [1].", [cite(1, "a", 1)])
    assert md == "The port handled 1\\.2 million containers [\\[1\\]](#cite/a/10/19)\\.\n\n- [\\[1\\]](#cite/a/10/19) T a: “sentence 1”"


@pytest.mark.parametrize("url, expected", [
    ("https://news.example/a", "https://news.example/a"),
    ("http://news.example/a b", None),
    ("javascript:alert(1)", None),
    (" JavaScript:alert(1)", None),
    ("data:text/html,<b>x</b>", None),
    ("//news.example/a", None),
    ("/relative", None),
    ("https://", None),
    ('https://news.example/"><img/src=x/onerror=alert(1)>', "https://news.example/%22%3E%3Cimg/src=x/onerror=alert%281%29%3E"),
    ("https://news.example/a)[b](javascript:x)", "https://news.example/a%29%5Bb%5D%28javascript:x%29"),
])
def test_only_http_urls_become_links_and_stay_inert(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_dates_show_as_words_and_others_as_given() -> None:
    assert show_date("2026-03-03") == "3 Mar 2026"
    assert show_date("2026-13-03") == "2026-13-03"
    assert show_date("<script>x</script>") == "<script>x</script>"


def test_ledger_table_escapes_everything_and_links_each_sentence() -> None:
    evil = '<img src=x onerror="alert(1)">'
    c = Claim(article_id='id"><b>', speaker=evil, speaker_mention=evil, speaker_key="k", cue="denied", stance="deny", cue_lemma="deny",
              content=evil, sentence_ids=['id"><b>:2', 'id"><b>:1'], other_party=evil)
    a = Article(id='id"><b>', title=evil, source=evil, published="2026-04-02", url="javascript:alert(1)", text="x")
    rows = [LedgerRow(c, [Sentence(article_id=c.article_id, index=2, text="s", start=20, end=30),
                          Sentence(article_id=c.article_id, index=1, text="s", start=5, end=15)])]
    out = ledger_html([(evil, [evil], rows)], {a.id: a}, total=3, shown=1)
    p = parsed(out)
    assert "img" not in p.tags and "b" not in p.tags
    assert out.count(evil) == 0 and out.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") >= 5
    assert [x["href"] for x in p.links] == ["#cite/id%22%3E%3Cb%3E/20/30"] * 2 + ["#cite/id%22%3E%3Cb%3E/5/15"]
    assert 'data-cite="#cite/id%22%3E%3Cb%3E/20/30"' in out  # the row opens the cue sentence
    assert "2 Apr 2026" in out and "javascript" not in out
    assert "Showing the first 1 of 3 claims" in out
    assert ledger_html([], {}, 0, 0) == '<p class="whosaid-empty">No claims match.</p>'


def test_ledger_download_links_carry_the_filters_escaped() -> None:
    from rag.filters import make_filters
    from ui.chat_desk import ledger_downloads

    out = ledger_downloads("deny", make_filters(['Tom & "Jerry" <News>'], "2026-03", None, ["a/b"], "Reyland"))
    p = parsed(out)
    assert "script" not in p.tags and [x["id"] for x in p.links] == ["whosaid-ledger-csv", "whosaid-ledger-jsonl"]
    assert p.links[0]["data-api"] == ("claims?stance=deny&source=Tom+%26+%22Jerry%22+%3CNews%3E&article=a%2Fb&since=2026-03-01"
                                      "&speaker=Reyland&format=csv")
    assert p.links[0]["href"] == "../api/" + p.links[0]["data-api"]
    assert ledger_downloads(None, make_filters()).count(" data-api=\"claims?format=") == 2  # no filters: the whole ledger


def test_speaker_list_and_links_are_escaped() -> None:
    pytest.importorskip("rag.attribution.timeline", reason="the speaker view needs rag/attribution/timeline.py")
    from rag.attribution.timeline import SpeakerSummary
    from rag.types import Link
    from ui.chat_speakers import _link_html, speakers_html

    evil = '<img src=x onerror="alert(1)">'
    out = speakers_html([SpeakerSummary(key="k", name=evil, claims=2, articles=1, first="2026-04-07", last=evil)])
    assert "img" not in parsed(out).tags and "7 Apr 2026" in out and out.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") == 2
    link = Link(kind="denies", score=0.8, from_article="a", from_seq=0, from_sentence=1, to_article='b"><img>', to_sentence=2,
                to_title=evil, to_source=evil, to_published="2026-04-07", to_text=evil)
    s = Sentence(article_id='b"><img>', index=2, text="t", start=5, end=9)
    out = _link_html(link, "a", 0, {('b"><img>', 2): s})
    p = parsed(out)
    assert "img" not in p.tags and [x["href"] for x in p.links] == ["#cite/b%22%3E%3Cimg%3E/5/9"]
    assert out.startswith('<span class="link denies"><span class="kind">denies →</span>') and "(&lt;img" in out
    back = _link_html(link, 'b"><img>', 3, {("a", 1): Sentence(article_id="a", index=1, text="t", start=0, end=4)})
    assert "← denied by" in back and 'href="#cite/a/0/4"' in back


def test_ledger_show_button_is_off_until_the_first_ledger_arrives() -> None:
    """The page's unfiltered ledger read must not land after (and overwrite) a quick filtered one, so
    Show starts disabled, is turned off while a read runs, and is turned on after each read, ended or failed."""
    from ui.chat import build_chat

    blocks = build_chat(lambda collection: None, 500)
    go = next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "whosaid-ledger-show")
    assert go.interactive is False
    ledger = [i for i, f in blocks.fns.items() if f.name == "ledger"]
    assert len(ledger) == 2  # the page load and the Show click
    to_button = [f for f in blocks.fns.values() if any(o._id == go._id for o in f.outputs)]
    enables = [f for f in to_button if f.trigger_after in ledger and not f.trigger_only_on_success]
    assert len(enables) == 2 and all(f.fn().interactive is True for f in enables)
    assert any(f.targets == [(go._id, "click")] and f.fn().interactive is False for f in to_button)
