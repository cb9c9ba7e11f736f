"""Bad input never stops good input, and never touches what is already stored.

Real files in ``tmp_path``, a real SQLite catalogue and a real on-disk Chroma (the fake embedder
keeps it fast). One CLI test runs the real command in a subprocess with the real MiniLM embedder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from ingest.loaders import load_file
from ingest.pipeline import IngestReport, ingest
from rag.store import Store

ROOT = Path(__file__).resolve().parents[1]


# -- helpers ------------------------------------------------------------------------------------


def run(paths: list[Path], store: Store) -> IngestReport:
    return ingest(paths, store, progress=False)


def snapshot(store: Store, article_id: str) -> tuple:
    """Everything the catalogue holds for one article, in a comparable form."""
    return (
        store.catalogue.version(store.space, article_id),
        store.catalogue.article(store.space, article_id),
        [(s.index, s.start, s.end, s.text) for s in store.catalogue.sentences(store.space, article_id)],
        sorted(store.catalogue.chunk_ids(store.space, article_id)),
    )


def assert_consistent(store: Store) -> None:
    """Chroma holds exactly the chunk ids the catalogue lists, and offsets reproduce the text."""
    assert store.vectors.ids() == store.catalogue.chunk_ids(store.space)
    for row in store.catalogue.list_articles(store.space):
        text = store.catalogue.article(store.space, row.id).text
        for s in store.catalogue.sentences(store.space, row.id):
            assert text[s.start : s.end] == s.text


GOOD_TXT = (
    "Harbour minister denies port sale\n"
    "\n"
    "The harbour minister on Tuesday denied that the port authority would be sold.\n"
    "\"There is no sale,\" she told reporters outside parliament.\n"
    "Opposition lawmakers cited leaked documents about talks with a consortium.\n"
)


@pytest.fixture
def store(settings, hash_embedder):
    s = Store(settings, hash_embedder)
    yield s
    s.close()


@pytest.fixture
def stored(tmp_path: Path, store: Store) -> dict:
    """Two articles ingested before any bad run, with their catalogue state and Chroma ids."""
    pre = tmp_path / "pre"
    pre.mkdir()
    (pre / "harbour.txt").write_text(GOOD_TXT)
    (pre / "bank.jsonl").write_text(
        json.dumps({"id": "bank-1", "title": "Central bank holds rates", "source": "Wire",
                    "text": "The central bank held rates at four percent. The governor said inflation was easing. "
                            "Markets had expected a cut."}) + "\n"
    )
    report = run([pre], store)
    assert (report.added, report.updated, report.unchanged, report.failed) == (2, 0, 0, [])
    ids = ["bank-1", "harbour"]
    before = {i: snapshot(store, i) for i in ids}
    assert all(before[i][3] for i in ids)  # each has chunks
    return {"dir": pre, "ids": ids, "before": before, "vector_ids": store.vectors.ids()}


# -- one case per bad input ---------------------------------------------------------------------


@dataclass
class Case:
    """Files to write, the paths to pass, the one failure expected, the ids that must still load."""

    write: Callable[[Path], list[Path]]
    path: str  # relative to tmp_path
    line: int | None
    error: list[str]  # substrings the error message must contain
    good_ids: list[str] = field(default_factory=list)


def _w(name: str, data: bytes | str) -> Callable[[Path], list[Path]]:
    def write(d: Path) -> list[Path]:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        return [p]

    return write


def _dups(d: Path) -> list[Path]:
    (d / "a").mkdir()
    (d / "b").mkdir()
    (d / "a" / "dup.txt").write_text("First dup title\n\nThe first file says the talks succeeded. Both sides agreed.\n")
    (d / "b" / "dup.txt").write_text("Second dup title\n\nThe second file says the talks failed. Nobody agreed.\n")
    return [d / "a" / "dup.txt", d / "b" / "dup.txt"]


def _missing(d: Path) -> list[Path]:
    return [d / "no-such-file.txt"]


def _line(article_id: str, text: str) -> str:
    return json.dumps({"id": article_id, "title": article_id.title(), "text": text})


GOOD_LINE_1 = _line("line-1", "The mayor opened the bridge. Crowds cheered.")
GOOD_LINE_3 = _line("line-3", "The bridge closed again. Engineers found cracks.")

CASES = {
    "empty": Case(_w("empty.txt", b""), "empty.txt", None, ["empty file"]),
    "whitespace": Case(_w("blank.txt", b"  \n\t\n   \r\n"), "blank.txt", None, ["empty file"]),
    "binary": Case(_w("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00binary"), "photo.txt", None, ["binary", "NUL"]),
    # a latin-1 byte in a UTF-8 file is damage, not a legacy encoding (legacy files: tests/test_inputs.py)
    "invalid-utf8": Case(
        _w("damaged.txt", "Cafe owner speaks\n\nThe caf\xe9 closed on Monday. Its owner said \u201cno\u201d.\n".encode("utf-8")
           .replace("caf\xe9".encode(), b"caf\xe9")),
        "damaged.txt", 3, ["not valid UTF-8", "0xe9", "offset 26", "otherwise UTF-8"],
    ),
    "jsonl-malformed-line": Case(
        _w("mixed.jsonl", f"{GOOD_LINE_1}\n{{\"id\": \"line-2\", \"text\": \"unterminated\n{GOOD_LINE_3}\n"),
        "mixed.jsonl", 2, ["malformed JSON line"], ["line-1", "line-3"],
    ),
    "jsonl-missing-text": Case(
        _w("notext.jsonl", f"{_line('rec-1', 'The court ruled. Appeals follow.')}\n"
                           f"{json.dumps({'id': 'rec-2', 'title': 'No body'})}\n\n"
                           f"{_line('rec-4', 'The court adjourned. Lawyers left.')}\n"),
        "notext.jsonl", 2, ["missing 'text' field"], ["rec-1", "rec-4"],
    ),
    "json-malformed": Case(
        _w("broken.json", '[\n  {"id": "j1", "text": "Fine text."},\n  {"id": "j2" "text": "no comma"}\n]\n'),
        "broken.json", 3, ["malformed JSON", "delimiter"],
    ),
    "csv-no-text-column": Case(
        _w("cols.csv", "id,title,body\nx1,Title,The body is in the wrong column.\n"),
        "cols.csv", 1, ["missing 'text' column"],
    ),
    "csv-empty-text": Case(
        _w("rows.csv", "id,title,text\nc1,First,The council approved the budget. It passed narrowly.\n"
                       "c2,Second,\nc3,Third,The council rejected the tax. Debate was long.\n"),
        "rows.csv", 3, ["'text' field is empty"], ["c1", "c3"],
    ),
    "unknown-extension": Case(_w("report.pages", b"%PDF-1.4\n%fake\n"), "report.pages", None, ["unsupported file type '.pages'", ".txt"]),
    "broken-pdf": Case(_w("report.pdf", b"%PDF-1.4\n%fake\n"), "report.pdf", None, ["not a readable PDF", "Data format error"]),
    "broken-docx": Case(_w("memo.docx", b"The mayor said no."), "memo.docx", None, ["not a readable .docx file"]),
    "nonexistent": Case(_missing, "no-such-file.txt", None, ["no such file or folder"]),
    "duplicate-id": Case(_dups, "b/dup.txt", None, ["duplicate article id 'dup'", "a/dup.txt"], ["dup"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_reported_and_isolated(name: str, tmp_path: Path, store: Store, stored: dict) -> None:
    case = CASES[name]
    bad_dir = tmp_path / "in"
    bad_dir.mkdir()
    good = bad_dir / "good-news.txt"
    good.write_text("Fire crews contain blaze\n\nFire crews contained the blaze by noon. No one was hurt.\n")
    paths = case.write(bad_dir)

    report = run([*paths, good], store)

    # (a) exactly one failure, naming the right file and line, with a helpful message
    assert len(report.failed) == 1, report.failed
    err = report.failed[0]
    assert err.path == str(bad_dir / case.path)
    assert err.line == case.line
    for part in case.error:
        assert part in err.error
    assert str(err) == (f"{bad_dir / case.path}:{case.line}: {err.error}" if case.line else f"{bad_dir / case.path}: {err.error}")

    # (b) the good inputs of the same run are ingested
    expected = sorted(["good-news", *case.good_ids])
    assert sorted(report.added_ids) == expected
    assert (report.added, report.updated, report.unchanged) == (len(expected), 0, 0)
    listed = {r.id: r for r in store.catalogue.list_articles(store.space)}
    assert sorted(listed) == sorted([*stored["ids"], *expected])
    assert listed["good-news"].title == "Fire crews contain blaze"
    if name == "duplicate-id":  # the first file named wins
        assert store.catalogue.article(store.space, "dup").title == "First dup title"

    # (c) articles stored before the run are untouched, in the catalogue and in Chroma
    for i in stored["ids"]:
        assert snapshot(store, i) == stored["before"][i]
    now = store.vectors.ids()
    assert stored["vector_ids"] <= now
    new_ids = set().union(*(store.catalogue.chunk_ids(store.space, i) for i in expected))
    assert now == stored["vector_ids"] | new_ids
    assert_consistent(store)


def test_all_bad_inputs_in_one_run(tmp_path: Path, store: Store, stored: dict) -> None:
    bad_dir = tmp_path / "in"
    bad_dir.mkdir()
    paths: list[Path] = []
    for case in CASES.values():
        paths += case.write(bad_dir)
    report = run([*paths, stored["dir"]], store)

    got = sorted((e.path, e.line) for e in report.failed)
    want = sorted((str(bad_dir / c.path), c.line) for c in CASES.values())
    assert got == want
    good = sorted({i for c in CASES.values() for i in c.good_ids})
    assert sorted(report.added_ids) == good
    assert report.unchanged == 2  # the two stored articles, named again, unchanged
    assert report.updated == 0
    for i in stored["ids"]:
        assert snapshot(store, i) == stored["before"][i]
    assert_consistent(store)


def test_invalid_utf8_on_one_jsonl_line_keeps_the_other_lines(tmp_path: Path, store: Store) -> None:
    p = tmp_path / "feed.jsonl"
    # the other lines are UTF-8 (“ ”), so the latin-1 byte is damage, not the file's encoding (see tests/test_inputs.py)
    utf8_line = json.dumps({"id": "line-3", "text": "The bridge closed. Engineers found \u201ccracks\u201d."}, ensure_ascii=False)
    p.write_bytes(f"{GOOD_LINE_1}\n".encode() + b'{"id": "bad", "text": "caf\xe9 closed."}\n' + f"{utf8_line}\n".encode())
    report = run([p], store)
    assert [(e.path, e.line) for e in report.failed] == [(str(p), 2)]
    assert sorted(report.added_ids) == ["line-1", "line-3"] and report.notices == []


def test_csv_multiline_record_error_names_its_first_line(tmp_path: Path, store: Store) -> None:
    p = tmp_path / "multi.csv"
    p.write_text('id,title,text\nm1,"A title\nspread over\nthree lines",\nm2,Fine,The text is fine. Really.\n')
    report = run([p], store)
    assert [(e.path, e.line) for e in report.failed] == [(str(p), 2)]
    assert report.added_ids == ["m2"]


def test_same_file_named_twice_is_not_a_duplicate(tmp_path: Path, store: Store) -> None:
    d = tmp_path / "news"
    d.mkdir()
    f = d / "storm.txt"
    f.write_text("Storm hits coast\n\nThe storm hit the coast overnight. Power was cut.\n")
    report = run([d, f], store)
    assert report.failed == []
    assert report.added_ids == ["storm"]


def test_identical_repeated_record_is_skipped_but_a_conflicting_one_fails(tmp_path: Path, store: Store) -> None:
    p = tmp_path / "feed.jsonl"
    rec = {"id": "r1", "title": "Rates", "text": "The governor ruled out a cut."}
    other = {"id": "r1", "title": "Rates", "text": "The governor announced a cut."}
    p.write_text("\n".join(json.dumps(r) for r in (rec, rec, other)) + "\n")
    report = run([p], store)
    assert (report.added, report.unchanged) == (1, 1)
    assert [(e.path, e.line) for e in report.failed] == [(str(p), 3)]
    assert "different content" in report.failed[0].error and f"{p}:1" in report.failed[0].error
    assert store.catalogue.sentences(store.space, "r1")[0].text == "The governor ruled out a cut."


# -- the CLI ------------------------------------------------------------------------------------

ERROR_LINE = re.compile(r"^error: (?P<path>.+?)(?::(?P<line>\d+))?: (?P<problem>.+)$")


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ui.cli", "ingest", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


def test_cli_reports_each_bad_input_once(tmp_path: Path) -> None:
    home = tmp_path / "cli-home"
    bad_dir = tmp_path / "in"
    bad_dir.mkdir()
    paths: list[Path] = []
    for case in CASES.values():
        paths += case.write(bad_dir)
    good = bad_dir / "good-news.txt"
    good.write_text("Fire crews contain blaze\n\nFire crews contained the blaze by noon. No one was hurt.\n")

    proc = _cli([*map(str, paths), str(good), "--json", "--no-progress"], home)

    assert proc.returncode == 1, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == len(CASES), proc.stderr
    parsed = []
    for l in lines:
        m = ERROR_LINE.match(l)
        assert m, f"not an error line: {l!r}"
        parsed.append((m["path"], int(m["line"]) if m["line"] else None))
    want = sorted((str(bad_dir / c.path), c.line) for c in CASES.values())
    assert sorted(parsed) == want

    out = json.loads(proc.stdout)
    assert set(out) == {"added", "updated", "unchanged", "failed"}
    assert (out["added"], out["updated"], out["unchanged"]) == (1 + len({i for c in CASES.values() for i in c.good_ids}), 0, 0)
    assert all(set(f) == {"path", "line", "error"} for f in out["failed"])
    assert sorted((f["path"], f["line"]) for f in out["failed"]) == want
    # stderr and the JSON report say the same thing
    assert sorted(f"error: {f['path']}{':' + str(f['line']) if f['line'] else ''}: {f['error']}" for f in out["failed"]) == sorted(lines)

    # a second run: what was stored is unchanged, the bad row is still reported; good input alone exits 0
    again = _cli([str(good), str(bad_dir / "rows.csv"), "--no-progress", "--json"], home)
    assert again.returncode == 1  # rows.csv still has its bad row
    assert json.loads(again.stdout) == {
        "added": 0, "updated": 0, "unchanged": 3,
        "failed": [{"path": str(bad_dir / "rows.csv"), "line": 3, "error": "'text' field is empty or not a string"}],
    }
    clean = _cli([str(good), "--no-progress"], home)
    assert clean.returncode == 0
    assert clean.stderr.strip() == ""
    assert clean.stdout.strip() == "added 0, updated 0, unchanged 1, failed 0"


# -- good-path loaders --------------------------------------------------------------------------


def _one(path: Path):
    results = list(load_file(path))
    assert len(results) == 1, results
    assert not hasattr(results[0], "error"), results[0]
    return results[0].article


def test_txt_with_title_line(tmp_path: Path) -> None:
    p = tmp_path / "Harbour_Minister.txt"
    p.write_text(GOOD_TXT)
    a = _one(p)
    assert a.id == "harbour-minister"
    assert a.title == "Harbour minister denies port sale"
    assert a.text == GOOD_TXT.split("\n\n", 1)[1].rstrip("\n")
    assert a.text.startswith("The harbour minister on Tuesday")


def test_txt_without_title_line(tmp_path: Path) -> None:
    body = "The port authority released its annual figures.\nContainer traffic rose by a tenth.\n"
    p = tmp_path / "port-authority_update.txt"
    p.write_text(body)
    a = _one(p)
    assert a.id == "port-authority-update"
    assert a.title == "Port authority update"
    assert a.text == body.rstrip("\n")


def test_txt_crlf_title(tmp_path: Path) -> None:
    p = tmp_path / "crlf.txt"
    p.write_bytes(b"Storm hits coast\r\n\r\nThe storm hit the coast overnight.\r\nPower was cut.\r\n")
    a = _one(p)
    assert (a.title, a.text) == ("Storm hits coast", "The storm hit the coast overnight.\nPower was cut.")


def test_md_with_heading_title(tmp_path: Path) -> None:
    p = tmp_path / "bank.md"
    p.write_text("# Central bank holds rates\n\nThe central bank held rates at four percent.\n\n## Reaction\n\nMarkets rose slightly.\n")
    a = _one(p)
    assert a.title == "Central bank holds rates"
    assert a.text == "The central bank held rates at four percent.\n\nReaction\n\nMarkets rose slightly."
    assert "#" not in a.text


HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Minister denies harbour sale | Coastal Gazette</title>
<meta property="og:site_name" content="Coastal Gazette">
<link rel="canonical" href="https://gazette.example.com/news/minister-denies-harbour-sale">
<script>window.dataLayer = [{"page": "article"}];</script>
</head>
<body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/politics">Politics</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/subscribe">Subscribe now for unlimited access</a></li></ul></nav></header>
<main>
<article>
<h1>Minister denies harbour sale</h1>
<p class="byline">By Jane Reporter, <time datetime="2023-03-14T09:30:00Z">14 March 2023</time></p>
<p>The harbour minister on Tuesday denied reports that the state port authority was about to be sold to a foreign consortium.</p>
<p>"There is no sale, and there will be no sale while I hold this office," the minister told reporters outside parliament.</p>
<p>Opposition lawmakers had cited leaked documents suggesting that talks with the consortium began in January.</p>
<p>The port authority employs more than four thousand people and handles most of the country's container traffic.</p>
</article>
</main>
<aside><h3>Most read</h3><ul><li><a href="/x">Celebrity chef opens floating restaurant</a></li></ul></aside>
<footer><p>Copyright 2023 Coastal Gazette. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a> | <a href="/cookies">Cookie settings</a></p></footer>
</body>
</html>
"""


def test_html_main_text_without_boilerplate(tmp_path: Path) -> None:
    p = tmp_path / "harbour-news.html"
    p.write_text(HTML)
    a = _one(p)
    assert a.id == "harbour-news"
    assert a.title == "Minister denies harbour sale"
    assert a.source == "Coastal Gazette"
    assert a.url == "https://gazette.example.com/news/minister-denies-harbour-sale"
    assert a.published == "2023-03-14"
    for sentence in (
        "The harbour minister on Tuesday denied reports that the state port authority was about to be sold to a foreign consortium.",
        '"There is no sale, and there will be no sale while I hold this office," the minister told reporters outside parliament.',
        "Opposition lawmakers had cited leaked documents suggesting that talks with the consortium began in January.",
        "The port authority employs more than four thousand people and handles most of the country's container traffic.",
    ):
        assert sentence in a.text
    for boilerplate in ("Subscribe", "Politics", "Sport", "Copyright", "Privacy policy", "Cookie", "Celebrity chef", "dataLayer"):
        assert boilerplate not in a.text


def test_json_list_and_articles_object(tmp_path: Path) -> None:
    p = tmp_path / "list.json"
    p.write_text(json.dumps([
        {"id": "j1", "title": "First", "text": "One sentence. Two sentences."},
        {"id": 7, "title": "Second", "source": "Wire", "text": "Another text."},
    ]))
    results = list(load_file(p))
    assert [(r.article.id, r.article.title, r.article.source, r.line) for r in results] == [
        ("j1", "First", "", None), ("7", "Second", "Wire", None)]
    q = tmp_path / "wrapped.json"
    q.write_text(json.dumps({"articles": [{"title": "No id", "text": "Hashed id text."}]}))
    (r,) = list(load_file(q))
    assert re.fullmatch(r"[0-9a-f]{16}", r.article.id)
    assert r.article.title == "No id" and r.article.text == "Hashed id text."


def test_jsonl_records_keep_their_line(tmp_path: Path) -> None:
    p = tmp_path / "feed.jsonl"
    p.write_text(f"{GOOD_LINE_1}\n\n{GOOD_LINE_3}\n")
    results = list(load_file(p))
    assert [(r.article.id, r.line, r.origin) for r in results] == [("line-1", 1, f"{p}:1"), ("line-3", 3, f"{p}:3")]
    assert results[1].article.text == "The bridge closed again. Engineers found cracks."


def test_csv_with_source_url_published(tmp_path: Path) -> None:
    p = tmp_path / "news.csv"
    p.write_text(
        "id,title,source,url,published,text\n"
        'n1,Rates held,Daily Wire,https://w.example/n1,2024-01-05,"The bank held rates. ""We are patient,"" it said."\n'
    )
    (r,) = list(load_file(p))
    a = r.article
    assert (a.id, a.title, a.source, a.url, a.published, r.line) == ("n1", "Rates held", "Daily Wire", "https://w.example/n1", "2024-01-05", 2)
    assert a.text == 'The bank held rates. "We are patient," it said.'


def test_fakes_style_aliases(tmp_path: Path) -> None:
    p = tmp_path / "fakes.csv"
    p.write_text("id,title,publisher,date,link,text\nf1,Strike at port,Syrian Observer,2013-05-02,https://x.example/f1,Workers struck. The port shut.\n")
    (r,) = list(load_file(p))
    assert (r.article.source, r.article.published, r.article.url) == ("Syrian Observer", "2013-05-02", "https://x.example/f1")
    q = tmp_path / "fakes.jsonl"
    q.write_text(json.dumps({"id": "f2", "publisher": "SANA", "date": "2013-06-01", "text": "A text. Another."}) + "\n")
    (r,) = list(load_file(q))
    assert (r.article.source, r.article.published, r.article.title) == ("SANA", "2013-06-01", "f2")


def test_every_format_ingests_with_exact_offsets(tmp_path: Path, store: Store) -> None:
    d = tmp_path / "all"
    d.mkdir()
    (d / "a.txt").write_text(GOOD_TXT)
    (d / "b.md").write_text("# Heading title\n\nFirst line here. Second sentence.\n")
    (d / "c.html").write_text(HTML)
    (d / "d.json").write_text(json.dumps([{"id": "d1", "text": "JSON body one. JSON body two."}]))
    (d / "e.jsonl").write_text(GOOD_LINE_1 + "\n")
    (d / "f.csv").write_text("id,publisher,date,text\nf1,Wire,2020-01-01,CSV body. More CSV.\n")
    from tests.test_inputs import PDF_PAGES, _docx, _pdf

    _docx(d / "g.docx", [("Word title", "Title"), ("Word body one. Word body two.", None), ("Word body three.", None)])
    _pdf(d / "h.pdf", PDF_PAGES[:2], title="PDF title")
    report = run([d], store)
    assert report.failed == []
    assert sorted(report.added_ids) == ["a", "b", "c", "d1", "f1", "g", "h", "line-1"]
    assert store.catalogue.article(store.space, "g").title == "Word title"
    assert [s.text for s in store.catalogue.sentences(store.space, "h")][:2] == PDF_PAGES[0]
    rows = {r.id: r for r in store.catalogue.list_articles(store.space)}
    assert rows["f1"].source == "Wire" and rows["f1"].published == "2020-01-01"
    assert rows["c"].published == "2023-03-14"
    assert rows["line-1"].origin == f"{d / 'e.jsonl'}:1"
    assert rows["a"].origin == str(d / "a.txt")
    assert rows["b"].sentences == 2
    assert_consistent(store)


# -- re-ingest, update, delete ------------------------------------------------------------------


def test_reingest_unchanged_does_nothing(tmp_path: Path, store: Store, stored: dict, hash_embedder) -> None:
    calls = hash_embedder.calls
    generation = store.catalogue.generation(store.space)
    report = run([stored["dir"]], store)
    assert (report.added, report.updated, report.unchanged, report.failed) == (0, 0, 2, [])
    assert hash_embedder.calls == calls  # nothing was embedded
    assert store.catalogue.generation(store.space) == generation
    for i in stored["ids"]:
        assert snapshot(store, i) == stored["before"][i]
    assert store.vectors.ids() == stored["vector_ids"]


def test_modified_file_is_updated_and_old_chunks_are_gone(tmp_path: Path, store: Store, stored: dict) -> None:
    old_version, _, _, old_chunks = stored["before"]["harbour"]
    (stored["dir"] / "harbour.txt").write_text(
        GOOD_TXT.replace("she told reporters outside parliament", "she told reporters at the harbour gate")
        + "The consortium declined to comment.\n"
    )
    report = run([stored["dir"]], store)
    assert (report.added, report.updated, report.unchanged, report.failed) == (0, 1, 1, [])
    assert report.updated_ids == ["harbour"]

    new_version, article, sentences, new_chunks = snapshot(store, "harbour")
    assert new_version != old_version
    assert "harbour gate" in article.text and "outside parliament" not in article.text
    assert len(sentences) == 4
    stale = set(old_chunks) - set(new_chunks)
    assert stale, "the edit must change at least one chunk"
    assert set(new_chunks) - set(old_chunks)
    in_chroma = store.vectors.ids()
    assert not stale & store.catalogue.chunk_ids(store.space)
    assert not stale & in_chroma
    assert set(new_chunks) <= in_chroma
    assert snapshot(store, "bank-1") == stored["before"]["bank-1"]
    assert_consistent(store)


def test_delete_removes_from_catalogue_and_chroma(store: Store, stored: dict) -> None:
    gone = set(stored["before"]["harbour"][3])
    assert store.delete("harbour") is True
    assert store.catalogue.article(store.space, "harbour") is None
    assert store.catalogue.sentences(store.space, "harbour") == []
    assert store.catalogue.chunk_ids(store.space, "harbour") == set()
    assert store.vectors.ids() == stored["vector_ids"] - gone
    assert snapshot(store, "bank-1") == stored["before"]["bank-1"]
    assert store.delete("harbour") is False
    assert store.delete("never-existed") is False
    assert_consistent(store)


def test_an_article_that_breaks_a_step_fails_alone(tmp_path: Path, store: Store, stored: dict, monkeypatch) -> None:
    """One article that makes the embedder raise and one that makes claim extraction raise, in the
    same batch as good ones: each gets its own error line, the good ones land, nothing stored moves."""
    from ingest.claims import ClaimExtractor

    embed, extract = store.embedder.embed_with_spans, ClaimExtractor.extract

    def poisoned_embed(texts, spans):
        if any("zzembedpoison" in t for t in texts):
            raise RuntimeError("embedder exploded")
        return embed(texts, spans)

    def poisoned_extract(self, article_id, sentences, text):
        if "zzclaimpoison" in text:
            raise ValueError("parser exploded")
        return extract(self, article_id, sentences, text)

    monkeypatch.setattr(store.embedder, "embed_with_spans", poisoned_embed)
    monkeypatch.setattr(ClaimExtractor, "extract", poisoned_extract)
    folder = tmp_path / "batch"
    folder.mkdir()
    rows = [{"id": f"ok-{i}", "title": f"Story {i}", "text": f"The mayor said the bridge {i} would open. Crews agreed."} for i in range(3)]
    rows.insert(1, {"id": "bad-embed", "title": "T", "text": "The mayor said zzembedpoison would open."})
    rows.insert(3, {"id": "bad-claims", "title": "T", "text": "The mayor said zzclaimpoison would open."})
    (folder / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = run([folder], store)
    errors = {e.error.split("'")[1]: e.error for e in report.failed}
    assert set(errors) == {"bad-embed", "bad-claims"}, errors
    assert "could not embed the article: RuntimeError: embedder exploded" in errors["bad-embed"]
    assert "could not extract claims: ValueError: parser exploded" in errors["bad-claims"]
    assert all(e.path.endswith("mixed.jsonl") for e in report.failed)
    assert sorted(report.added_ids) == ["ok-0", "ok-1", "ok-2"]
    for i in ("bad-embed", "bad-claims"):
        assert store.catalogue.article(store.space, i) is None
    for i in stored["before"]:
        assert snapshot(store, i) == stored["before"][i]
    assert_consistent(store)


def test_a_vector_store_refusal_keeps_out_only_its_article(tmp_path: Path, store: Store, stored: dict, monkeypatch) -> None:
    add = store.vectors.add

    def refusing(ids, vectors, metadatas):
        if any(m["article_id"] == "refused" for m in metadatas):
            raise RuntimeError("Batch size is greater than max batch size")
        return add(ids, vectors, metadatas)

    monkeypatch.setattr(store.vectors, "add", refusing)
    folder = tmp_path / "batch"
    folder.mkdir()
    rows = [{"id": i, "title": "T", "text": f"The mayor said {i} would open."} for i in ("ok-a", "refused", "ok-b")]
    (folder / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = run([folder], store)
    assert [e.error.split("'")[1] for e in report.failed] == ["refused"]
    assert "could not store the article" in report.failed[0].error
    assert sorted(report.added_ids) == ["ok-a", "ok-b"]
    for i in stored["before"]:
        assert snapshot(store, i) == stored["before"][i]
    assert_consistent(store)


def test_caps_refuse_with_the_cap_named(tmp_path: Path) -> None:
    from rag.settings import IngestSettings

    limits = IngestSettings(max_file_bytes=1000, max_article_chars=200)
    big = tmp_path / "big.txt"
    big.write_text("Title\n\n" + "The mayor said no. " * 100)
    [err] = list(load_file(big, limits))
    assert "over the 1000 bytes cap (WHOSAID_INGEST__MAX_FILE_BYTES)" in err.error
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "short", "text": "The mayor said no."}) + "\n" + json.dumps({"id": "long", "text": "x " * 150}) + "\n")
    short, long = list(load_file(rows, limits))
    assert short.article.id == "short"
    assert long.line == 2 and "300 characters, over the 200 cap (WHOSAID_INGEST__MAX_ARTICLE_CHARS)" in long.error
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    [err] = list(load_file(deep))
    assert err.path == str(deep) and "nested too deeply" in err.error
