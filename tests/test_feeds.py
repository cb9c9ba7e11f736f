"""Feeds (RSS and Atom, from a file or from a real HTTP server on 127.0.0.1) and URL lists: every
entry or page an article with its date, source and link; every failure one line naming the feed
and entry, or the URL. No other network is used."""

from __future__ import annotations

from pathlib import Path

from ingest.feeds import article_id, html_to_text
from ingest.loaders import Loaded, LoadError, load_file, load_source
from ingest.pipeline import ingest
from rag.settings import IngestSettings
from rag.store import Store
from tests.servers import Site

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Valdoria Ledger</title><link>https://ledger.example/</link><description>News</description>
<item><title>Minister denies port sale</title><link>https://ledger.example/2026/03/port-sale-denied.html</link>
<guid isPermaLink="false">ledger-1001</guid><pubDate>Fri, 20 Mar 2026 09:30:00 GMT</pubDate>
<description><![CDATA[<p>The harbour minister <b>denied</b> on Friday that the port would be sold.</p><p>The union warned of strikes.</p><script>alert(1)</script>]]></description>
</item>
{extra}
<item><title>Photo: the harbour at dawn</title><link>https://ledger.example/2026/03/photo.html</link><guid>ledger-1002</guid>
<pubDate>Sat, 21 Mar 2026 06:00:00 GMT</pubDate><description><![CDATA[<img src="dawn.jpg"/>]]></description></item>
</channel></rss>"""

ENTRY = """<item><title>Union confirms strike vote</title><link>https://ledger.example/2026/03/strike-vote.html</link>
<guid>ledger-1003</guid><pubDate>Sun, 22 Mar 2026 12:00:00 +0100</pubDate>
<description>The dockers' union confirmed that a strike vote would be held on Monday.</description></item>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Northern Wire Service</title><id>urn:nws:feed</id>
<updated>2026-03-23T10:00:00Z</updated>
<entry><title>Ministry rejects Ledger report</title><id>urn:nws:2026-0042</id><link href="https://nws.example/wire/0042"/>
<updated>2026-03-23T10:00:00Z</updated><published>2026-03-22T23:30:00-02:00</published>
<content type="html">&lt;p&gt;The ministry rejected the Ledger&amp;#8217;s report as &amp;quot;false&amp;quot;.&lt;/p&gt;&lt;ul&gt;&lt;li&gt;No sale is planned.&lt;/li&gt;&lt;/ul&gt;</content>
<summary>Short summary only.</summary></entry>
</feed>"""

PAGE = """<!doctype html><html><head><title>Port talks resume | Harbour Herald</title>
<meta property="og:site_name" content="Harbour Herald"><meta property="og:title" content="Port talks resume">
<meta name="date" content="2026-03-25"></head><body><nav>Home | World | Sport</nav>
<article><h1>Port talks resume</h1>
<p>Talks on the future of the port of Kessel resumed on Wednesday, the ministry said in a statement.</p>
<p>The union's leader, Mara Olsen, said the workers would "wait and see" before calling off the strike.</p>
<p>Opposition deputies demanded that the talks be held in public, and the ministry refused.</p>
</article><footer>Copyright Harbour Herald</footer></body></html>"""


def _rss(extra: str = "") -> str:
    return RSS.replace("{extra}", extra)


def _all(source, **kw) -> tuple[list[Loaded], list[LoadError]]:
    items = list(load_source(source, **kw))
    return [i for i in items if isinstance(i, Loaded)], [i for i in items if isinstance(i, LoadError)]


def test_rss_file_entries_become_articles_with_source_date_link(tmp_path: Path) -> None:
    f = tmp_path / "ledger.rss"
    f.write_text(_rss(), encoding="utf-8")
    loaded, errors = _all(f)
    (a,) = [x.article for x in loaded]
    assert (a.title, a.source, a.url, a.published) == ("Minister denies port sale", "Valdoria Ledger",
                                                       "https://ledger.example/2026/03/port-sale-denied.html", "2026-03-20")
    assert a.text == "The harbour minister denied on Friday that the port would be sold.\n\nThe union warned of strikes."
    assert a.id == article_id("https://ledger.example/#ledger-1001", a.url) and a.id.startswith("port-sale-denied-")
    assert [str(e) for e in errors] == [f"{f}:2: feed 'Valdoria Ledger': entry 'Photo: the harbour at dawn' has no text"]
    # the id does not depend on the title: an edited headline replaces the article, it adds none
    f.write_text(_rss().replace("Minister denies port sale", "Minister denies port sale (updated)"), encoding="utf-8")
    assert _all(f)[0][0].article.id == a.id


def test_atom_file_uses_the_content_and_the_published_day(tmp_path: Path) -> None:
    f = tmp_path / "wire.atom"
    f.write_text(ATOM, encoding="utf-8")
    (loaded,), errors = _all(f)
    a = loaded.article
    assert errors == []
    assert (a.title, a.source, a.url, a.published) == ("Ministry rejects Ledger report", "Northern Wire Service",
                                                       "https://nws.example/wire/0042", "2026-03-23")  # 23:30 at -02:00 is the 23rd in UTC
    assert a.text == "The ministry rejected the Ledger\u2019s report as \"false\".\n\nNo sale is planned."


def test_an_xml_file_that_is_not_a_feed_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "config.xml"
    f.write_text('<?xml version="1.0"?><config><port>80</port></config>', encoding="utf-8")
    assert [str(e) for e in load_file(f)] == [f"{f}: not an RSS or Atom feed (feeds are read from .xml, .rss, .atom files and http(s) URLs)"]
    junk = tmp_path / "junk.rss"
    junk.write_bytes(b"\x00\x01\x02 not xml")
    assert [e.error for e in load_file(junk)] == ["not an RSS or Atom feed (feeds are read from .xml, .rss, .atom files and http(s) URLs)"]


def test_html_to_text_keeps_paragraphs_and_drops_markup() -> None:
    assert html_to_text("<div>One <i>two</i><br>three</div><p>four &amp; five</p>") == "One two\n\nthree\n\nfour & five"
    assert html_to_text("plain   text\n\nsecond") == "plain text\n\nsecond"
    assert html_to_text("<img src=x>") == ""


def test_feed_from_a_url_and_its_failures(tmp_path: Path) -> None:
    with Site() as site:
        site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, _rss().encode())
        site.routes["/page"] = (200, {"Content-Type": "text/html"}, PAGE.encode())
        site.routes["/moved"] = (301, {"Location": "/feed.xml"}, b"")
        loaded, errors = _all(site.url("/feed.xml"))
        assert [x.article.source for x in loaded] == ["Valdoria Ledger"] and len(errors) == 1
        assert loaded[0].path == site.url("/feed.xml")
        assert [x.article.id for x in _all(site.url("/moved"))[0]] == [loaded[0].article.id]  # a redirect is followed
        assert [str(e) for e in _all(site.url("/page"))[1]] == [
            f"{site.url('/page')}: not an RSS or Atom feed (text/html); list page URLs in a .urls file to ingest pages"]
        assert [str(e) for e in _all(site.url("/gone.xml"))[1]] == [f"{site.url('/gone.xml')}: HTTP 404 Not Found"]
        base = site.base
    # the server is gone: the feed is unreachable, one line
    (e,) = _all(base + "/feed.xml")[1]
    assert e.path == base + "/feed.xml" and e.error.startswith("cannot fetch: ")


def test_url_list_pages_are_fetched_and_each_failure_names_its_url(tmp_path: Path) -> None:
    with Site() as site:
        site.routes["/news/port-talks-resume"] = (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE.encode())
        site.routes["/data.json"] = (200, {"Content-Type": "application/json"}, b"{}")
        site.routes["/loop"] = (302, {"Location": "/loop"}, b"")
        site.routes["/to-ftp"] = (302, {"Location": "ftp://127.0.0.1/x"}, b"")
        site.routes["/big"] = (200, {"Content-Type": "text/html"}, b"<p>" + b"x" * 5000 + b"</p>")
        site.routes["/empty"] = (200, {"Content-Type": "text/html"}, b"<html><head><title>Nothing</title></head><body></body></html>")
        urls = ["/news/port-talks-resume", "/missing", "/data.json", "/loop", "/to-ftp", "/big", "/empty"]
        f = tmp_path / "desk.urls"
        f.write_text("# today's reading\n" + "\n".join(site.url(u) for u in urls) + "\n\n" + site.url(urls[0]) + "\n")
        loaded, errors = _all(f, limits=IngestSettings(max_fetch_bytes=4000, max_redirects=3))
        (a,) = [x.article for x in loaded]
        assert (a.title, a.source, a.published, a.url) == ("Port talks resume", "Harbour Herald", "2026-03-25", site.url(urls[0]))
        assert a.id.startswith("port-talks-resume-") and "Mara Olsen" in a.text and "Copyright" not in a.text
        assert [str(e) for e in errors] == [
            f"{site.url('/missing')}: HTTP 404 Not Found",
            f"{site.url('/data.json')}: not an HTML page (application/json)",
            f"{site.url('/loop')}: more than 3 redirects (WHOSAID_INGEST__MAX_REDIRECTS)",
            f"{site.url('/to-ftp')}: only http and https URLs are fetched, not 'ftp://127.0.0.1/x'",
            f"{site.url('/big')}: response is 5,007 bytes, over the 4,000 byte cap (WHOSAID_INGEST__MAX_FETCH_BYTES)",
            f"{site.url('/empty')}: no article text found in the page",
        ]
        assert site.hits.count(urls[0]) == 1  # listed twice, fetched once
        # a .txt of URLs is refused, never fetched (only a file named .urls reaches the network);
        # a .txt of prose with a URL in it is an article
        listed = tmp_path / "reading.txt"
        listed.write_text(site.url(urls[0]) + "\n")
        hits = len(site.hits)
        assert [str(e) for e in _all(listed)[1]] == [f"{listed}: a list of URLs, not an article; name it .urls to fetch the pages"]
        assert len(site.hits) == hits
        prose = tmp_path / "note.txt"
        prose.write_text("Reading list\n\nSee " + site.url(urls[0]) + " for the talks.\n")
        assert _all(prose)[0][0].article.title == "Reading list"
    bad = tmp_path / "bad.urls"
    bad.write_text("https://ok.example/a\nfile:///etc/passwd\n")
    assert [e.error for e in _all(bad)[1]] == ["not a list of http(s) URLs (a .urls file holds one URL a line): 'file:///etc/passwd'"]


def test_ingest_a_feed_url_then_again_adds_only_the_new_entry(settings, hash_embedder) -> None:
    store = Store(settings, hash_embedder)
    try:
        with Site() as site:
            site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, _rss().encode())
            first = ingest([site.url("/feed.xml")], store, progress=False)
            assert (first.added, first.updated, first.unchanged, len(first.failed)) == (1, 0, 0, 1)
            site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, _rss(ENTRY).encode())
            second = ingest([site.url("/feed.xml")], store, progress=False)
            assert (second.added, second.updated, second.unchanged) == (1, 0, 1)
            (new,) = second.added_ids
            a = store.catalogue.article(store.space, new)
            assert (a.title, a.source, a.published) == ("Union confirms strike vote", "Valdoria Ledger", "2026-03-22")
            row = {r.id: r for r in store.catalogue.list_articles(store.space)}[new]
            assert row.origin == site.url("/feed.xml") + ":2"
    finally:
        store.close()


def test_a_feed_url_keeps_the_article_cap(tmp_path: Path) -> None:
    long_entry = ENTRY.replace("The dockers' union confirmed that a strike vote would be held on Monday.", "Words go on. " * 20)
    with Site() as site:
        site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, _rss(long_entry).encode())
        loaded, errors = _all(site.url("/feed.xml"), limits=IngestSettings(max_article_chars=200))
    assert [x.article.title for x in loaded] == ["Minister denies port sale"]
    assert [e.error for e in errors][0] == "article text is 259 characters, over the 200 cap (WHOSAID_INGEST__MAX_ARTICLE_CHARS)"
    assert errors[0].path == site.url("/feed.xml") and errors[0].line == 2


def test_a_hostile_feed_expands_no_entity_and_reads_no_file(tmp_path: Path) -> None:
    """Billion laughs and an external entity: feedparser's loose parser leaves both as text."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    levels = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    f = tmp_path / "hostile.xml"
    f.write_text(f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{levels}<!ENTITY xxe SYSTEM "file://{secret}">]>'
                 '<rss version="2.0"><channel><title>T</title><item><title>a</title><guid>urn:x:1</guid>'
                 "<description>&l9; &xxe;</description></item></channel></rss>")
    (a,) = [x.article for x in _all(f)[0]]
    assert "TOP SECRET" not in a.text and len(a.text) < 100
