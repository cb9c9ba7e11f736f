"""Loaders: files of .txt, .md, .html, .json, .jsonl and .csv become :class:`Article` records.

Each loader yields either a :class:`Loaded` article or a :class:`LoadError` naming the file, the
line where it applies, and the problem in one sentence. A bad record never stops the others.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from rag.settings import IngestSettings
from rag.types import Article

SUPPORTED = (".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".csv")
#: Field names other datasets use for ours (FA-KES: publisher/date).
ALIASES = {"source": ("source", "publisher", "outlet"), "published": ("published", "date", "published_at"), "url": ("url", "link")}


@dataclass(frozen=True)
class Loaded:
    article: Article
    path: str
    line: int | None = None

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


def _read_text(path: Path, lenient: bool = False, limits: IngestSettings | None = None) -> str | LoadError:
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
    if b"\x00" in data:
        return LoadError(str(path), None, "binary file (contains NUL bytes), not text")
    if lenient:
        return data.decode("utf-8-sig", errors="surrogateescape")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return LoadError(str(path), line, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})")


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
    yield Loaded(Article(id=slug(path.stem), title=title, text=body), str(path))


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
    yield Loaded(Article(id=slug(path.stem), title=title, text=body), str(path))


def load_html(path: Path, text: str) -> Iterator[Loaded | LoadError]:
    """Main text, title, date and canonical URL extracted by trafilatura."""
    import trafilatura

    doc = trafilatura.bare_extraction(text, with_metadata=True, include_comments=False, favor_precision=True)
    data = doc.as_dict() if doc is not None and hasattr(doc, "as_dict") else (doc or {})
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
    article = Article(id=article_id, title=title, source=field("source"), url=field("url"), published=field("published"), text=text)
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


LOADERS = {
    ".txt": load_txt, ".md": load_md, ".html": load_html, ".htm": load_html,
    ".json": load_json, ".jsonl": load_jsonl, ".csv": load_csv,
}


def load_file(path: Path, limits: IngestSettings | None = None) -> Iterator[Loaded | LoadError]:
    """Every article of one file, or one error line per bad record; within the caps of ``limits``."""
    limits = limits or IngestSettings()
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        yield LoadError(str(path), None, f"unsupported file type '{path.suffix or '(none)'}' (expected {', '.join(SUPPORTED)})")
        return
    text = _read_text(path, lenient=path.suffix.lower() in RECORD_FORMATS, limits=limits)
    if isinstance(text, LoadError):
        yield text
        return
    started = time.monotonic()
    try:
        for item in loader(path, text):
            if isinstance(item, Loaded) and len(item.article.text) > limits.max_article_chars:
                item = LoadError(item.path, item.line, f"article text is {len(item.article.text):,} characters, over the "
                                                       f"{limits.max_article_chars:,} cap (WHOSAID_INGEST__MAX_ARTICLE_CHARS)")
            yield item
            if time.monotonic() - started > limits.max_file_seconds:
                yield LoadError(str(path), None, f"reading stopped after the {limits.max_file_seconds:g} s cap "
                                                 "(WHOSAID_INGEST__MAX_FILE_SECONDS); the records before it were read")
                return
    except (RecursionError, MemoryError, ValueError) as e:  # a parser giving up on a pathological file
        yield LoadError(str(path), None, f"cannot read the file ({type(e).__name__}: {str(e)[:120]})")


def expand(paths: list[Path]) -> Iterator[Path | LoadError]:
    """Files named directly, and files under folders (recursively, sorted, hidden ones skipped),
    each once even when named twice or reached through a folder and directly."""
    seen: set[Path] = set()

    def once(f: Path) -> bool:
        key = f.resolve()
        if key in seen:
            return False
        seen.add(key)
        return True

    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if f.is_file() and not any(part.startswith(".") for part in rel) and once(f):
                    yield f
        elif p.is_file():
            if once(p):
                yield p
        else:
            yield LoadError(str(p), None, "no such file or folder")
