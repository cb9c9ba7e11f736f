"""Loaders: files of .txt, .md, .html, .json, .jsonl, .csv, .docx and .pdf become :class:`Article` records.

Each loader yields either a :class:`Loaded` article or a :class:`LoadError` naming the file, the
line where it applies, and the problem in one sentence. A bad record never stops the others.
Text inputs that are not UTF-8 are decoded in the legacy encoding charset-normalizer finds (or the
one the caller forces), and every article of such a file carries a notice naming it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from rag.filters import iso_day
from rag.settings import IngestSettings
from rag.types import Article

SUPPORTED = (".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".csv", ".docx", ".pdf", ".xml", ".rss", ".atom", ".urls")
#: Field names other datasets use for ours (FA-KES: publisher/date).
ALIASES = {"source": ("publisher", "outlet", "source"), "published": ("published", "date", "published_at"), "url": ("url", "link")}


@dataclass(frozen=True)
class Loaded:
    article: Article
    path: str
    line: int | None = None
    #: Things the reader should know that did not stop the article (the encoding it was read in).
    notices: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class LoadError:
    path: str
    line: int | None
    error: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.error}"


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return s[:80] or "article"


#: Record files are decoded leniently so one bad byte fails only its own record.
RECORD_FORMATS = (".jsonl", ".csv")


def _read_bytes(path: Path, limits: IngestSettings | None = None) -> bytes | LoadError:
    """The file's bytes, within the size cap; an empty file is an error."""
    cap = (limits or IngestSettings()).max_file_bytes
    try:
        size = path.stat().st_size
        if size > cap:
            return LoadError(str(path), None, f"file is {_size(size)}, over the {_size(cap)} cap (WHOSAID_INGEST__MAX_FILE_BYTES)")
        data = path.read_bytes()
    except OSError as e:
        return LoadError(str(path), None, f"cannot read file: {e.strerror or e}")
    if not data.strip():
        return LoadError(str(path), None, "empty file")
    return data


#: Among encodings that read a file equally well, the Western ones win: the articles are English,
#: and charset-normalizer ranks cp1250 (Polish) first for English text with a stray ``é``.
PREFERRED_ENCODINGS = ("cp1252", "latin_1", "iso8859_15")
def damaged_utf8(data: bytes) -> bool:
    """Whether ``data`` (not valid UTF-8) is UTF-8 with a few bad bytes rather than legacy text: it
    holds at least as many well-formed non-ASCII UTF-8 characters as bad bytes. Random bytes form a
    few such characters by chance, legacy text almost never does (``Ã©`` in latin-1)."""
    text = data.decode("utf-8", errors="surrogateescape")
    bad = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
    good = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    return good >= bad


_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _plausible(data: bytes, encoding: str) -> bool:
    """Text files in a legacy encoding keep ASCII as ASCII and hold no control characters; short
    random bytes pass for UTF-16, EBCDIC or Shift JIS in the detector's eyes, and fail this."""
    try:
        return _ASCII.decode(encoding) == _ASCII.decode("ascii") and not _CONTROLS.search(data.decode(encoding))
    except (UnicodeDecodeError, LookupError):
        return False


def detect_encoding(data: bytes) -> str | None:
    """The legacy encoding ``data`` (not valid UTF-8) is written in, or None when nothing fits
    (binary data) or when it is damaged UTF-8 (guessing would turn its good characters into mojibake)."""
    if damaged_utf8(data):
        return None
    from charset_normalizer import from_bytes

    matches = [m for m in from_bytes(data) if _plausible(data, m.encoding)]
    if not matches:
        return None
    best = min(m.chaos for m in matches)
    fits = [m for m in matches if m.chaos <= best + 0.01]
    for preferred in PREFERRED_ENCODINGS:
        if any(preferred in m.could_be_from_charset for m in fits):
            return preferred
    return fits[0].encoding


def _decode(path: Path, data: bytes, lenient: bool = False, encoding: str | None = None) -> tuple[str, tuple[str, ...]] | LoadError:
    """Text and notices. UTF-8 (with or without a byte-order mark) first; else the forced
    ``encoding``, else the one detected. Record files left undetected are decoded leniently so one
    bad byte fails only its own record."""
    wide = encoding is not None and codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    if b"\x00" in data and not wide:
        return LoadError(str(path), None, "binary file (contains NUL bytes), not text")
    if encoding is not None:
        codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding  # a forced UTF-8 still drops a BOM
        try:
            return data.decode(codec), ()
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            return LoadError(str(path), line, f"not valid {encoding} (byte 0x{data[e.start]:02x} at offset {e.start})")
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError as e:
        found = detect_encoding(data)
        if found is not None:
            return data.decode(found), (f"{path}: not UTF-8, read as {found} (detected; --encoding forces another)",)
        if lenient:
            return data.decode("utf-8-sig", errors="surrogateescape"), ()
        line = data[: e.start].count(b"\n") + 1
        if damaged_utf8(data):
            return LoadError(str(path), line, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}) "
                                              "in a file that is otherwise UTF-8 (--encoding forces one)")
        return LoadError(str(path), None, "binary file, not text (not UTF-8, and no text encoding fits)")


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def _undecodable(text: str) -> str | None:
    """Describe the first byte that was not UTF-8 (kept as a surrogate by lenient decoding)."""
    for ch in text:
        if "\udc80" <= ch <= "\udcff":
            return f"not valid UTF-8 (byte 0x{ord(ch) - 0xDC00:02x})"
    return None


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


#: A wire dateline at the start of a line near the top: "VALDORIA CITY, March 3, 2026 (Northern Wire Service) —".
DATELINE = re.compile(
    r"^[A-Z][A-Z .'-]{1,40}, (?P<date>[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4}) \((?P<source>[^()\n]{2,60})\) [—–-]", re.MULTILINE
)


def dateline(body: str) -> tuple[str, str]:
    """``(source, ISO day)`` from a wire dateline in the first lines of a plain-text article, else
    empty strings: a .txt or .md file has no other place for them, and filters and timelines need both."""
    m = DATELINE.search(body[:1000])
    if not m:
        return "", ""
    return m["source"].strip(), iso_day(m["date"].replace(".", ""))


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize() or path.stem


def load_txt(path: Path, text: str) -> Iterator[Loaded | LoadError]:
    """First line is the title when a blank line follows it; else the file name gives the title."""
    text = _normalise_newlines(text)
    lines = text.split("\n")
    if len(lines) > 2 and lines[0].strip() and not lines[1].strip() and len(lines[0]) <= 300:
        title, body = lines[0].strip(), "\n".join(lines[2:]).strip("\n")
    else:
        title, body = _title_from_name(path), text.strip("\n")
    if not body.strip():
        yield LoadError(str(path), None, "no article text after the title line")
        return
    source, published = dateline(body)
    yield Loaded(Article(id=slug(path.stem), title=title, source=source, published=published, text=body), str(path))


def load_md(path: Path, text: str) -> Iterator[Loaded | LoadError]:
    """A leading ``# Heading`` is the title; heading markers are dropped from the body."""
    text = _normalise_newlines(text)
    lines = text.split("\n")
    title = _title_from_name(path)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and re.match(r"#\s+\S", lines[first]):
        title = lines[first].lstrip("#").strip()
        lines = lines[first + 1 :]
    body = "\n".join(re.sub(r"^#{1,6}\s+", "", line) for line in lines).strip("\n")
    if not body.strip():
        yield LoadError(str(path), None, "no article text after the title")
        return
    source, published = dateline(body)
    yield Loaded(Article(id=slug(path.stem), title=title, source=source, published=published, text=body), str(path))


def extract_page(html: bytes | str, url: str | None = None) -> dict[str, Any]:
    """trafilatura's main text and metadata of a page (``text``, ``title``, ``sitename``, ``date``,
    ``url``), as a dict; empty when it finds nothing. One home for the options HTML files and fetched
    pages are read with."""
    import trafilatura

    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False, favor_precision=True)
    return doc.as_dict() if doc is not None and hasattr(doc, "as_dict") else (doc or {})


def load_html(path: Path, text: str) -> Iterator[Loaded | LoadError]:
    """Main text, title, date and canonical URL extracted by trafilatura."""
    data = extract_page(text)
    body = (data.get("text") or "").strip()
    if not body:
        yield LoadError(str(path), None, "no article text found in the HTML")
        return
    article = Article(
        id=slug(path.stem),
        title=(data.get("title") or _title_from_name(path)).strip(),
        source=(data.get("sitename") or "").strip(),
        url=(data.get("url") or "").strip(),
        published=(data.get("date") or "").strip(),
        text=body,
    )
    yield Loaded(article, str(path))


def record_to_article(record: Any, path: Path, line: int | None) -> Loaded | LoadError:
    """One JSON/CSV record; ``text`` is required, ``id`` defaults to a hash of the text."""
    if not isinstance(record, dict):
        return LoadError(str(path), line, f"expected an object with 'text', got {type(record).__name__}")
    text = record.get("text")
    if text is None:
        return LoadError(str(path), line, "missing 'text' field")
    if not isinstance(text, str) or not text.strip():
        return LoadError(str(path), line, "'text' field is empty or not a string")
    text = _normalise_newlines(text).strip("\n")
    rid = record.get("id")
    article_id = str(rid).strip() if rid not in (None, "") else hashlib.sha256(text.encode()).hexdigest()[:16]

    def field(name: str) -> str:
        for key in ALIASES.get(name, (name,)):
            if record.get(key) not in (None, ""):
                return str(record[key]).strip()
        return ""

    title = str(record.get("title") or "").strip() or article_id
    # an ISO day when the date can be read ("4/5/2017" month first, as FA-KES writes it), so date
    # filters, timelines and the links' date order compare like with like; else the text as given
    published = field("published")
    article = Article(id=article_id, title=title, source=field("source"), url=field("url"), published=iso_day(published) or published, text=text)
    return Loaded(article, str(path), line)


def load_jsonl(path: Path, text: str) -> Iterator[Loaded | LoadError]:
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        if bad := _undecodable(raw):
            yield LoadError(str(path), n, bad)
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as e:
            yield LoadError(str(path), n, f"malformed JSON line ({e.msg} at column {e.colno})")
            continue
        except RecursionError:
            yield LoadError(str(path), n, "JSON nested too deeply to read")
            continue
        yield record_to_article(record, path, n)


def load_json(path: Path, text: str) -> Iterator[Loaded | LoadError]:
    """A record, a list of records, or ``{"articles": [...]}``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        yield LoadError(str(path), e.lineno, f"malformed JSON ({e.msg} at column {e.colno})")
        return
    except RecursionError:
        yield LoadError(str(path), None, "JSON nested too deeply to read")
        return
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    records = data if isinstance(data, list) else [data]
    if not records:
        yield LoadError(str(path), None, "no records in the JSON file")
    for i, record in enumerate(records, start=1):
        result = record_to_article(record, path, None)
        if isinstance(result, LoadError):
            result = LoadError(str(path), None, f"record {i}: {result.error}")
        yield result


def load_csv(path: Path, text: str) -> Iterator[Loaded | LoadError]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "text" not in [f.strip() for f in reader.fieldnames]:
        yield LoadError(str(path), 1, "missing 'text' column in the CSV header")
        return
    rows = 0
    start = reader.line_num + 1  # a record is reported at the line it starts on
    try:
        for row in reader:
            rows += 1
            values = [v for v in row.values() if isinstance(v, str)]
            if bad := next((b for b in map(_undecodable, values) if b), None):
                yield LoadError(str(path), start, bad)
            else:
                record = {(k or "").strip(): v for k, v in row.items()}
                yield record_to_article(record, path, start)
            start = reader.line_num + 1
    except csv.Error as e:
        yield LoadError(str(path), reader.line_num, f"malformed CSV ({e})")
        return
    if not rows:
        yield LoadError(str(path), None, "no records in the CSV file (only a header)")


def _docx_blocks(document: Any) -> Iterator[tuple[str, str]]:
    """``(text, style name)`` of the body's paragraphs and table rows in reading order (python-docx
    lists paragraphs and tables apart; the body's XML children keep their order). Nested tables are
    read inside their cell."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def cell_text(cell: Any) -> str:
        parts = [p.text.strip() for p in cell.paragraphs]
        parts += [row for t in cell.tables for row in rows(t)]
        return " ".join(p for p in parts if p)

    def rows(table: Any) -> list[str]:
        out = []
        for row in table.rows:
            cells, seen = [], set()
            for cell in row.cells:
                if id(cell._tc) in seen:  # a merged cell is listed once per grid column it spans
                    continue
                seen.add(id(cell._tc))
                cells.append(cell_text(cell))
            text = " | ".join(c for c in cells if c)
            if text:
                out.append(text)
        return out

    # style names by id, read once: python-docx's ``paragraph.style`` looks the default style up
    # among all styles for every paragraph without one (two thirds of a long file's load time)
    names = {st.style_id: st.name or "" for st in document.styles}
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            yield Paragraph(child, document).text, names.get(child.style or "", "")
        elif tag == "tbl":
            for text in rows(Table(child, document)):
                yield text, "Table"


def load_docx(path: Path, data: bytes, limits: IngestSettings | None = None) -> Iterator[Loaded | LoadError]:
    """Word (python-docx): the title is the core properties' title, else the first Title or Heading
    paragraph (then left out of the body); the other non-empty paragraphs are joined by blank lines,
    so the body is exactly the text the sentence offsets index. A table's rows come where the table
    stands, each row one paragraph of its cells' text joined by " | " (a merged cell once). Headers
    and footers are not read."""
    import zipfile

    import docx

    cap = (limits or IngestSettings()).max_file_bytes
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            inflated = sum(info.file_size for info in z.infolist())  # zipfile never inflates past these sizes
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        yield LoadError(str(path), None, f"not a readable .docx file ({type(e).__name__}: {str(e)[:120]})")
        return
    if inflated > cap:  # a zip bomb would fill memory before python-docx saw a paragraph
        yield LoadError(str(path), None, f".docx file unpacks to {_size(inflated)}, over the {_size(cap)} cap (WHOSAID_INGEST__MAX_FILE_BYTES)")
        return
    try:
        document = docx.Document(io.BytesIO(data))
        props_title = (document.core_properties.title or "").strip()
        paragraphs = list(_docx_blocks(document))
    except Exception as e:  # noqa: BLE001 - a zip or XML parser giving up on a hostile file is one error line
        yield LoadError(str(path), None, f"not a readable .docx file ({type(e).__name__}: {str(e)[:120]})")
        return
    paragraphs = [(_normalise_newlines(text).strip(), style) for text, style in paragraphs]
    paragraphs = [(text, style) for text, style in paragraphs if text]
    title = props_title
    if not title:
        first = next((i for i, (_, style) in enumerate(paragraphs) if style == "Title" or style.startswith("Heading")), None)
        if first is not None:
            title = paragraphs.pop(first)[0]
    body = "\n\n".join(text for text, _ in paragraphs)
    if not body:
        yield LoadError(str(path), None, "no article text in the .docx file")
        return
    yield Loaded(Article(id=slug(path.stem), title=title or _title_from_name(path), text=body), str(path))


@dataclass(frozen=True)
class PdfLine:
    """One line of a PDF page as PDFium lays it out: its text, and whether it is full, that is, the
    next line's first word would not have fitted after it (a line the layout wrapped, rather than the
    last line of a paragraph, a heading or a list item)."""

    text: str
    full: bool


#: A line that is only a page number: "3", "- 3 -", "Page 3", "page 3 of 10", "3/10".
PAGE_NUMBER = re.compile(r"^[\W_]*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?[\W_]*$", re.IGNORECASE)
#: How many lines at the top and at the bottom of a page may be a running header or footer.
EDGE_LINES = 2
#: A line at a page's edge is running matter when it (numbers aside) recurs there on this share of
#: the pages, and on at least 3 of them: a title line repeated on two pages of three is more likely content.
RUNNING_SHARE = 0.6


def _pdf_lines(textpage: Any, page_width: float) -> list[PdfLine]:
    """The page's lines, each marked full or not from the character boxes. PDFium's text is one
    character per index (its generated line breaks included), so a line's first and last characters
    give where it starts and ends. The text's right edge is the rightmost line end, or the left margin
    mirrored when no line reaches that far (a page of short lines)."""
    raw = textpage.get_text_range()
    spans: list[tuple[int, int]] = []
    at = 0
    for m in re.finditer(r"\r\n|\r|\n", raw):
        spans.append((at, m.start()))
        at = m.end()
    spans.append((at, len(raw)))
    geometry: list[tuple[float, float] | None] = []  # (line end, width of its first word)
    lefts: list[float] = []
    for a, b in spans:
        text = raw[a:b]
        first = a + (len(text) - len(text.lstrip()))
        last = a + len(text.rstrip()) - 1
        if last < first:
            geometry.append(None)
            continue
        word_end = first + len(re.match(r"\S*", raw[first : last + 1]).group(0)) - 1
        try:
            left = textpage.get_charbox(first)[0]
            geometry.append((textpage.get_charbox(last)[2], textpage.get_charbox(word_end)[2] - left))
            lefts.append(left)
        except Exception:  # noqa: BLE001 - a character without a box (rare, generated): no geometry for this line
            geometry.append(None)
    right = max([page_width - min(lefts, default=0.0)] + [g[0] for g in geometry if g])
    lines: list[PdfLine] = []
    for i, ((a, b), g) in enumerate(zip(spans, geometry)):
        nxt = next((h for h in geometry[i + 1 :] if h), None)
        full = g is not None and nxt is not None and g[0] + nxt[1] >= right - 1.0
        lines.append(PdfLine(raw[a:b].replace("\x00", "").strip(), full))
    return lines


def _running_keys(pages: list[list[PdfLine]]) -> set[str]:
    """Lines that recur (numbers aside) at the top or bottom of most pages: running headers and footers."""
    from collections import Counter

    counts: Counter[str] = Counter()
    for lines in pages:
        texts = [ln.text for ln in lines if ln.text]
        counts.update({_edge_key(t) for t in texts[:EDGE_LINES] + texts[-EDGE_LINES:]})
    with_text = sum(1 for lines in pages if any(ln.text for ln in lines))
    if with_text < 3:
        return set()
    return {k for k, n in counts.items() if n >= max(3, RUNNING_SHARE * with_text)}


def _edge_key(line: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", line.lower())).strip()


def _strip_running(lines: list[PdfLine], running: set[str], multipage: bool) -> list[PdfLine]:
    """The page's lines without the running headers and footers and the page numbers at its edges."""
    def matter(line: PdfLine) -> bool:
        return _edge_key(line.text) in running or (multipage and bool(PAGE_NUMBER.match(line.text)))

    kept = [ln for ln in lines if ln.text]
    for _ in range(EDGE_LINES):
        if kept and matter(kept[0]):
            kept.pop(0)
        if kept and matter(kept[-1]):
            kept.pop()
    return kept


_HYPHENS = ("-", "\u00ad", "\x02", "\ufffe")
#: PDFium joins a word it finds hyphenated at a line's end and marks the break with U+FFFE (older
#: builds: U+0002); a soft hyphen (U+00AD) marks a break a word processor may make.
_BREAK_MARK = re.compile(r"(\w+)[\ufffe\x02\u00ad](\w+)")


def _unbreak(text: str, words: set[str]) -> str:
    """Words PDFium joined at a hyphenated line end, without the mark: as one word, or with a hyphen
    when the document writes them so elsewhere and never as one word."""
    def join(m: re.Match[str]) -> str:
        hyphenated = f"{m.group(1)}-{m.group(2)}".lower() in words and (m.group(1) + m.group(2)).lower() not in words
        return f"{m.group(1)}-{m.group(2)}" if hyphenated else m.group(1) + m.group(2)

    if "\ufffe" not in text and "\x02" not in text and "\u00ad" not in text:
        return text  # most pages: the scan for marked words is the costliest step of the rebuild
    return _BREAK_MARK.sub(join, text).replace("\ufffe", "").replace("\x02", "").replace("\u00ad", "")


def _reflow(lines: list[PdfLine], words: set[str]) -> str:
    """A page's text with its paragraphs whole: a full line, or one the next continues in lower case,
    is joined to the next with a space, and a word hyphenated at the line's end is joined again (its
    hyphen dropped unless the document writes the word with a hyphen elsewhere and never without);
    other line breaks are kept, and end sentences (headlines, list items, short last lines)."""
    out = ""
    for i, line in enumerate(lines):
        text = line.text
        if i + 1 == len(lines):
            out += text
            break
        nxt = lines[i + 1].text
        continues = nxt[:1].islower()
        hyphen = text.endswith(_HYPHENS) and len(text) > 1 and text[-2].isalpha() and nxt[:1].isalpha() and nxt[:1].islower()
        if hyphen:
            head = re.search(r"(\w+)$", text[:-1])
            tail = re.match(r"\w+", nxt)
            whole = (head.group(1) if head else "") + (tail.group(0) if tail else "")
            keep = f"{head.group(1) if head else ''}-{tail.group(0) if tail else ''}".lower() in words \
                and whole.lower() not in words
            out += text[:-1] + ("-" if keep else "")
        elif line.full or continues:
            out += text + " "
        else:
            out += text + "\n"
    return out


def load_pdf(path: Path, data: bytes, limits: IngestSettings | None = None) -> Iterator[Loaded | LoadError]:
    """PDF via pypdfium2 (Google's PDFium: Apache-2.0/BSD, a wheel with the compiled library inside),
    rather than pdfplumber (MIT, pure Python over pdfminer.six: several times slower, and its
    character-level layout is not needed for running text). Not thread-safe: call it from one thread
    at a time. Each page's lines are read with where they end; running headers, footers and page
    numbers are dropped, paragraphs are joined again (de-hyphenated), and the pages are joined by blank
    lines; ``Article.pages`` maps the character ranges of the text so built to page numbers. The title
    is the document's Title metadata, else the file name. A PDF without a text layer (a scan) is one
    error line."""
    import pypdfium2 as pdfium

    max_chars = (limits or IngestSettings()).max_article_chars
    try:
        document = pdfium.PdfDocument(data)
    except Exception as e:  # noqa: BLE001 - PdfiumError and friends on a damaged, encrypted or non-PDF file
        yield LoadError(str(path), None, f"not a readable PDF ({str(e)[:120].rstrip('.') or type(e).__name__})")
        return
    try:
        meta_title = (document.get_metadata_dict().get("Title") or "").strip()
        pages: list[list[PdfLine]] = []
        read = 0
        for number in range(len(document)):
            page = document[number]
            textpage = page.get_textpage()
            pages.append(_pdf_lines(textpage, page.get_width()))
            textpage.close()
            page.close()
            size = sum(len(ln.text) + 1 for ln in pages[-1] if ln.text)
            if size:
                read += size + (2 if read else 0)  # about the rebuilt text's length so far
            if read > max_chars:  # stop reading pages once the article cap is passed
                yield LoadError(str(path), None, f"article text is over {max_chars:,} characters by page {number + 1} of "
                                                 f"{len(document)}, over the cap (WHOSAID_INGEST__MAX_ARTICLE_CHARS)")
                return
    except Exception as e:  # noqa: BLE001
        yield LoadError(str(path), None, f"cannot read the PDF's text ({str(e)[:120].rstrip('.') or type(e).__name__})")
        return
    finally:
        document.close()
    running = _running_keys(pages)
    multipage = sum(1 for lines in pages if any(ln.text for ln in lines)) > 1
    kept = [_strip_running(lines, running, multipage) for lines in pages]
    words = {w.lower() for lines in kept for ln in lines for w in re.findall(r"\w+(?:-\w+)*", ln.text)}
    texts = [_unbreak(_reflow(lines, words), words).strip() for lines in kept]
    parts: list[str] = []
    page_map: list[tuple[int, int, int]] = []
    offset = 0
    for number, text in enumerate(texts, start=1):
        if not text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(text)
        page_map.append((offset, offset + len(text), number))
        offset += len(text)
    if not page_map:
        yield LoadError(str(path), None, f"no text layer in the PDF ({len(texts)} page(s) of images: a scan?); "
                                         "run OCR on it first (e.g. ocrmypdf)")
        return
    title = meta_title or _title_from_name(path)
    yield Loaded(Article(id=slug(path.stem), title=title, text="".join(parts), pages=page_map), str(path))


LOADERS = {
    ".txt": load_txt, ".md": load_md, ".html": load_html, ".htm": load_html,
    ".json": load_json, ".jsonl": load_jsonl, ".csv": load_csv,
}
def _feed(path: Path, data: bytes, limits: IngestSettings | None = None) -> Iterator[Loaded | LoadError]:
    from ingest.feeds import load_feed_file

    return load_feed_file(path, data, limits)


#: Formats read from their bytes (no text decoding; a feed's XML declares its own encoding).
BINARY_LOADERS = {".docx": load_docx, ".pdf": load_pdf, ".xml": _feed, ".rss": _feed, ".atom": _feed}


class LoadMemo:
    """What each file gave when it was last read, kept with its size and modification time: ``whosaid
    watch`` reads a file again only when either changed, so a folder of PDFs is not parsed every round.
    Only files whose every item is an article read from the file itself are kept: a file with a bad
    record is read again (its error line is said every round), and a URL list is fetched again (its
    pages change without it)."""

    def __init__(self) -> None:
        self._files: dict[Path, tuple[tuple[int, int], list[Loaded | LoadError]]] = {}

    def load(self, path: Path, read: Callable[[], Iterable[Loaded | LoadError]]) -> list[Loaded | LoadError]:
        try:
            st = path.stat()
        except OSError:
            return list(read())
        key = (st.st_mtime_ns, st.st_size)
        hit = self._files.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        items = list(read())
        if items and all(isinstance(i, Loaded) and i.path == str(path) for i in items):
            self._files[path] = (key, items)
        else:
            self._files.pop(path, None)
        return items


def load_source(source: Path | str, limits: IngestSettings | None = None, encoding: str | None = None,
                fetched: dict[str, Any] | None = None) -> Iterator[Loaded | LoadError]:
    """A file (:func:`load_file`) or an http(s) URL, read as an RSS or Atom feed (``fetched``: the
    conditional-fetch cache of :func:`ingest.feeds.load_feed_url`)."""
    if isinstance(source, str):
        from ingest.feeds import load_feed_url

        limits = limits or IngestSettings()
        return _capped(load_feed_url(source, limits, fetched), source, limits)
    return load_file(source, limits, encoding)


def _text_items(path: Path, suffix: str, text: str, limits: IngestSettings) -> Iterator[Loaded | LoadError]:
    """A text input's articles; a ``.urls`` file is a list of pages to fetch. A ``.txt`` file of URLs
    only is refused with a line saying so: ingesting a folder never reaches the network unless a file
    is named to."""
    if suffix in (".urls", ".txt"):
        from ingest.feeds import load_url_list, url_list

        if suffix == ".urls":
            return load_url_list(path, text, limits)
        if url_list(text) is not None:
            return iter([LoadError(str(path), None, "a list of URLs, not an article; name it .urls to fetch the pages")])
    return LOADERS[suffix](path, text)


def load_file(path: Path, limits: IngestSettings | None = None, encoding: str | None = None) -> Iterator[Loaded | LoadError]:
    """Every article of one file, or one error line per bad record; within the caps of ``limits``.
    ``encoding`` forces how text inputs are decoded (else UTF-8, else the detected legacy encoding)."""
    limits = limits or IngestSettings()
    suffix = path.suffix.lower()
    if suffix not in LOADERS and suffix not in BINARY_LOADERS and suffix != ".urls":
        yield LoadError(str(path), None, f"unsupported file type '{path.suffix or '(none)'}' (expected {', '.join(SUPPORTED)})")
        return
    data = _read_bytes(path, limits)
    if isinstance(data, LoadError):
        yield data
        return
    if suffix in BINARY_LOADERS:
        items = BINARY_LOADERS[suffix](path, data, limits)
        notices: tuple[str, ...] = ()
    else:
        decoded = _decode(path, data, lenient=suffix in RECORD_FORMATS, encoding=encoding)
        if isinstance(decoded, LoadError):
            yield decoded
            return
        text, notices = decoded
        items = _text_items(path, suffix, text, limits)
    yield from _capped(items, str(path), limits, notices)


def _capped(items: Iterator[Loaded | LoadError], where: str, limits: IngestSettings,
            notices: tuple[str, ...] = ()) -> Iterator[Loaded | LoadError]:
    """``items`` within the article-length and reading-time caps, with the input's notices; a parser
    giving up on a pathological input is one error line."""
    started = time.monotonic()
    try:
        for item in items:
            if isinstance(item, Loaded) and len(item.article.text) > limits.max_article_chars:
                item = LoadError(item.path, item.line, f"article text is {len(item.article.text):,} characters, over the "
                                                       f"{limits.max_article_chars:,} cap (WHOSAID_INGEST__MAX_ARTICLE_CHARS)")
            elif isinstance(item, Loaded) and notices:
                item = Loaded(item.article, item.path, item.line, item.notices + notices)
            yield item
            if time.monotonic() - started > limits.max_file_seconds:
                yield LoadError(where, None, f"reading stopped after the {limits.max_file_seconds:g} s cap "
                                             "(WHOSAID_INGEST__MAX_FILE_SECONDS); the records before it were read")
                return
    except (RecursionError, MemoryError, ValueError) as e:  # a parser giving up on a pathological file
        yield LoadError(where, None, f"cannot read the file ({type(e).__name__}: {str(e)[:120]})")


def expand(paths: list[Path | str]) -> Iterator[Path | str | LoadError]:
    """Files named directly, and files under folders (recursively, sorted, hidden ones skipped),
    each once even when named twice or reached through a folder and directly; http(s) URLs (str)
    pass through, each once."""
    seen: set[Path] = set()
    urls: set[str] = set()

    def once(f: Path) -> bool:
        key = f.resolve()
        if key in seen:
            return False
        seen.add(key)
        return True

    for p in paths:
        if isinstance(p, str):
            if p not in urls:
                urls.add(p)
                yield p
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and not any(part.startswith(".") for part in rel) and once(f):
                    yield f
        elif p.is_file():
            if once(p):
                yield p
        else:
            yield LoadError(str(p), None, "no such file or folder")
