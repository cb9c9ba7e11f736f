"""Inputs from the web: RSS/Atom feeds (a file or an http(s) URL) and lists of page URLs.

Each feed entry becomes an article: its id a stable hash of the entry's id (or link), its source the
feed's title, its url the entry's link, its date the ISO day of the entry's date, its text the entry's
content (else summary) with the HTML stripped. Each page of a URL list is fetched
(:func:`ingest.web.fetch`) and its main text, title, site name and date extracted by trafilatura.
Every failure is one :class:`LoadError` naming the feed and entry, or the URL.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from ingest.loaders import Loaded, LoadError, extract_page, slug
from ingest.web import Fetched, FetchError, client, fetch, is_url
from rag.settings import IngestSettings
from rag.types import Article

FEED_SUFFIXES = (".xml", ".rss", ".atom")
URL_LIST_SUFFIX = ".urls"
#: Elements after which the text of an entry's HTML starts a new paragraph.
_BLOCKS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "tr", "section", "article", "figcaption")


def article_id(key: str, link: str = "") -> str:
    """A readable, stable id: the slug of the link's last path segment (or host), then a hash of
    ``key`` (the entry's id or link, or the page's URL), so an edited title never makes a new article."""
    parts = urlsplit(link or key)
    segments = [s for s in parts.path.split("/") if s]
    readable = slug(re.sub(r"\.[A-Za-z0-9]{1,5}$", "", segments[-1]) if segments else parts.netloc or "entry")[:50]
    return f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def html_to_text(html: str) -> str:
    """The text of an HTML fragment, one paragraph per block element, joined by blank lines (a line
    break ends a sentence); scripts and styles dropped. Plain text passes through unchanged but for
    tidied white space."""
    import lxml.html
    from lxml import etree

    if "<" not in html:
        paragraphs = re.split(r"\n\s*\n", html)
    else:
        try:
            root = lxml.html.fragment_fromstring(html, create_parent="div")
        except (etree.ParserError, ValueError):
            return ""
        for bad in root.xpath("//script|//style|//noscript"):
            bad.drop_tree()
        for el in root.iter(*_BLOCKS):
            el.tail = "\n\n" + (el.tail or "")
            if el.tag != "br":
                el.text = "\n\n" + (el.text or "")
        paragraphs = re.split(r"\n\s*\n", root.text_content())
    cleaned = (" ".join(p.split()) for p in paragraphs)
    return "\n\n".join(p for p in cleaned if p)


def _iso_day(entry: Any) -> str:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        t = entry.get(key)
        if t:
            try:
                return date(t.tm_year, t.tm_mon, t.tm_mday).isoformat()
            except ValueError:
                continue
    return ""


def parse_feed(data: bytes) -> Any | None:
    """feedparser's reading of ``data``, or None when it is not an RSS or Atom feed."""
    import feedparser

    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version") and not parsed.entries:
        return None
    return parsed


def feed_articles(origin: str, data: bytes) -> Iterator[Loaded | LoadError]:
    """Every entry of the feed in ``data`` (read from ``origin``, a path or a URL) as an article."""
    parsed = parse_feed(data)
    if parsed is None:
        yield LoadError(origin, None, "not an RSS or Atom feed (feeds are read from .xml, .rss, .atom files and http(s) URLs)")
        return
    feed_title = " ".join(str(parsed.feed.get("title") or "").split()) or origin
    home = str(parsed.feed.get("link") or origin)
    if not parsed.entries:
        yield LoadError(origin, None, f"feed '{feed_title}' has no entries")
    for n, entry in enumerate(parsed.entries, start=1):
        try:
            yield _entry(origin, feed_title, home, n, entry)
        except Exception as e:  # noqa: BLE001 - one odd entry is its own error line, not the feed's
            yield LoadError(origin, n, f"feed '{feed_title}': entry {n} cannot be read ({type(e).__name__}: {str(e)[:120]})")


def _entry(origin: str, feed_title: str, home: str, n: int, entry: Any) -> Loaded | LoadError:
    """One feed entry as an article, or the line saying why it is not one."""
    link = str(entry.get("link") or "").strip()
    title = html_to_text(str(entry.get("title") or "")).replace("\n\n", " ")
    key = str(entry.get("id") or "").strip() or link
    name = title or key or f"entry {n}"
    if not key:
        return LoadError(origin, n, f"feed '{feed_title}': entry '{name}' has no id and no link, so it cannot be kept apart from others")
    if ":" not in key:  # a bare guid ("1234") is unique only within its feed
        key = f"{home}#{key}"
    contents = [str(c.get("value") or "") for c in entry.get("content") or []]
    html = max(contents, key=len, default="") or str(entry.get("summary") or entry.get("description") or "")
    text = html_to_text(html)
    if not text:
        return LoadError(origin, n, f"feed '{feed_title}': entry '{name}' has no text")
    article = Article(id=article_id(key, link), title=title or name, source=feed_title, url=link,
                      published=_iso_day(entry), text=text)
    return Loaded(article, origin, n)


def load_feed_file(path: Path, data: bytes, limits: IngestSettings | None = None) -> Iterator[Loaded | LoadError]:
    """A feed saved as a file (.xml, .rss, .atom)."""
    yield from feed_articles(str(path), data)


def load_feed_url(url: str, limits: IngestSettings | None = None, cache: dict[str, Fetched] | None = None) -> Iterator[Loaded | LoadError]:
    """A feed fetched from an http(s) URL. With ``cache`` (kept by ``whosaid watch`` across rounds),
    the fetch is conditional on the last response's ETag or Last-Modified, and a "304 Not Modified"
    reads the feed kept from that response: the same articles, unchanged, for one small request."""
    before = cache.get(url) if cache is not None else None
    try:
        got = fetch(url, limits, etag=before.etag if before else "", last_modified=before.last_modified if before else "")
    except FetchError as e:
        yield LoadError(url, None, str(e))
        return
    if got.not_modified and before is not None:
        got = before
    elif cache is not None and (got.etag or got.last_modified):
        cache[url] = got
    if parse_feed(got.body) is None:
        kind = f" ({got.content_type})" if got.content_type else ""
        yield LoadError(url, None, f"not an RSS or Atom feed{kind}; list page URLs in a {URL_LIST_SUFFIX} file to ingest pages")
        return
    yield from feed_articles(url, got.body)


def url_list(text: str) -> list[tuple[int, str]] | None:
    """``(line, url)`` of a URL list: every line that is not blank or a ``#`` comment is an http(s)
    URL; None when some line is not (then the text is an article, not a list)."""
    found: list[tuple[int, str]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not is_url(line):
            return None
        found.append((n, line))
    return found or None


def page_article(url: str, html: bytes | str) -> Article | str:
    """The article trafilatura finds in a page's HTML, or why there is none."""
    data = extract_page(html, url)
    body = (data.get("text") or "").strip()
    if not body:
        return "no article text found in the page"
    return Article(id=article_id(url), title=(data.get("title") or "").strip() or url, source=(data.get("sitename") or "").strip(),
                   url=url, published=(data.get("date") or "").strip()[:10], text=body)


def load_url_list(path: Path, text: str, limits: IngestSettings | None = None) -> Iterator[Loaded | LoadError]:
    """Each page of a URL list, fetched and extracted; each failure one line naming the URL."""
    urls = url_list(text)
    if urls is None:
        bad = next((line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")
                    and not is_url(line.strip())), "")
        yield LoadError(str(path), None, f"not a list of http(s) URLs (a {URL_LIST_SUFFIX} file holds one URL a line): '{bad[:100]}'")
        return
    with client(limits) as http:
        yield from _pages(list(dict.fromkeys(url for _, url in urls)), limits, http)


def _pages(urls: list[str], limits: IngestSettings | None, http: Any) -> Iterator[Loaded | LoadError]:
    for url in urls:
        try:
            got = fetch(url, limits, using=http)
        except FetchError as e:
            yield LoadError(url, None, str(e))
            continue
        if got.content_type and got.content_type not in ("text/html", "application/xhtml+xml"):
            yield LoadError(url, None, f"not an HTML page ({got.content_type})")
            continue
        found = page_article(url, got.body)
        yield LoadError(url, None, found) if isinstance(found, str) else Loaded(found, url)
