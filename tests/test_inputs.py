"""Inputs beyond UTF-8 text: legacy encodings (detected, or forced with --encoding), Word .docx and
PDF files. Every file is generated here (python-docx, fpdf2), none is downloaded."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.loaders import Loaded, LoadError, detect_encoding, load_file
from ingest.pipeline import IngestReport, collect
from ingest.sentences import split_sentences
from rag.settings import IngestSettings

ROOT = Path(__file__).resolve().parents[1]

CP1252_TEXT = ("Port sale denied\n\nThe minister said \u201cthe port is not for sale\u201d \u2014 and the caf\u00e9 owners cheered. "
               "Cr\u00e8me de la cr\u00e8me, said the na\u00efve union leader. It costs \u20ac5.\n")


def _one(path: Path, **kw) -> Loaded:
    results = list(load_file(path, **kw))
    assert len(results) == 1 and isinstance(results[0], Loaded), results
    return results[0]


def _error(path: Path, **kw) -> LoadError:
    results = list(load_file(path, **kw))
    assert len(results) == 1 and isinstance(results[0], LoadError), results
    return results[0]


# -- legacy encodings ---------------------------------------------------------------------------


def test_cp1252_text_is_detected_with_a_notice(tmp_path: Path) -> None:
    p = tmp_path / "legacy.txt"
    p.write_bytes(CP1252_TEXT.encode("cp1252"))
    r = _one(p)
    assert r.article.title == "Port sale denied"
    assert r.article.text == CP1252_TEXT.split("\n\n", 1)[1].strip("\n")  # curly quotes, dash, accents and euro intact
    assert r.notices == (f"{p}: not UTF-8, read as cp1252 (detected; --encoding forces another)",)


def test_latin1_records_decode_whole_file_and_notice_once(tmp_path: Path) -> None:
    p = tmp_path / "rows.csv"
    p.write_bytes("id,title,text\nr1,Caf\u00e9,Le caf\u00e9 a ferm\u00e9. Le patron l'a dit.\nr2,Gar\u00e7on,Le gar\u00e7on a parl\u00e9.\n".encode("latin-1"))
    report = IngestReport()
    loaded = collect([p], report)
    assert [(r.article.id, r.article.title, r.article.text) for r, _ in loaded] == [
        ("r1", "Caf\u00e9", "Le caf\u00e9 a ferm\u00e9. Le patron l'a dit."), ("r2", "Gar\u00e7on", "Le gar\u00e7on a parl\u00e9.")]
    assert report.failed == []
    assert report.notices == [f"{p}: not UTF-8, read as cp1252 (detected; --encoding forces another)"]
    assert report.to_json_dict()["notices"] == report.notices


def test_ascii_jsonl_with_latin1_bytes_is_read_whole(tmp_path: Path) -> None:
    """Record files too: a JSON Lines file whose only non-ASCII bytes are latin-1 is a latin-1 file."""
    p = tmp_path / "feed.jsonl"
    p.write_bytes(b'{"id": "a", "text": "The caf\xe9 closed."}\n{"id": "b", "text": "The na\xefve plan failed."}\n')
    results = list(load_file(p))
    assert [(r.article.id, r.article.text, r.line) for r in results] == [("a", "The caf\u00e9 closed.", 1), ("b", "The na\u00efve plan failed.", 2)]
    assert all(r.notices == (f"{p}: not UTF-8, read as cp1252 (detected; --encoding forces another)",) for r in results)


def test_utf8_input_has_no_notice_and_reports_keep_their_shape(tmp_path: Path) -> None:
    p = tmp_path / "plain.txt"
    p.write_text(CP1252_TEXT, encoding="utf-8")
    assert _one(p).notices == ()
    report = IngestReport()
    collect([p], report)
    assert report.notices == [] and "notices" not in report.to_json_dict()


def test_damaged_utf8_is_refused_not_guessed(tmp_path: Path) -> None:
    """A stray latin-1 byte in a UTF-8 file: guessing cp1252 would turn every curly quote into mojibake."""
    p = tmp_path / "damaged.txt"
    p.write_bytes("Title\n\nThe minister said \u201cno\u201d. The caf".encode() + b"\xe9 shut.\n")
    e = _error(p)
    assert e.line == 3 and "not valid UTF-8 (byte 0xe9" in e.error and "otherwise UTF-8" in e.error
    assert detect_encoding(p.read_bytes()) is None


@pytest.mark.parametrize("suffix", [".txt", ".md", ".csv", ".jsonl"])
def test_binary_is_still_refused(tmp_path: Path, suffix: str) -> None:
    rng = random.Random(3)
    no_nul = tmp_path / f"noise{suffix}"
    no_nul.write_bytes(bytes(rng.randrange(1, 256) for _ in range(4000)))
    with_nul = tmp_path / f"nul{suffix}"
    with_nul.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    results = list(load_file(no_nul))
    assert results and all(isinstance(r, LoadError) for r in results), results
    if suffix in (".txt", ".md"):
        assert [str(r) for r in results] == [f"{no_nul}: binary file, not text (not UTF-8, and no text encoding fits)"]
    assert [str(r) for r in load_file(with_nul)] == [f"{with_nul}: binary file (contains NUL bytes), not text"]


def test_forced_encoding_wins_over_detection(tmp_path: Path) -> None:
    polish = "Minister powiedzia\u0142, \u017ce \u0141\u00f3d\u017a jest zamkni\u0119ta. Zwi\u0105zek zaprzeczy\u0142."
    p = tmp_path / "pl.txt"
    p.write_bytes(polish.encode("cp1250"))
    forced = _one(p, encoding="cp1250")
    assert forced.article.text == polish and forced.notices == ()
    guessed = _one(p)
    assert guessed.notices and guessed.article.text != polish  # the Western guess is wrong for Polish: hence --encoding
    # a forced encoding that does not fit is one line, naming it
    q = tmp_path / "utf8.txt"
    q.write_bytes("Title\n\nThe caf\u00e9 \u201cshut\u201d.\n".encode())
    assert "not valid ascii (byte 0xc3" in _error(q, encoding="ascii").error
    # forced UTF-16 is read although it holds NUL bytes; forced UTF-8 drops the byte-order mark
    w = tmp_path / "wide.txt"
    w.write_bytes("Title\n\nThe mayor denied it.\n".encode("utf-16"))
    assert _one(w, encoding="utf-16").article.text == "The mayor denied it."
    b = tmp_path / "bom.txt"
    b.write_bytes(b"\xef\xbb\xbfTitle\n\nThe mayor denied it.\n")
    assert _one(b, encoding="utf-8").article.title == "Title"


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ui.cli", "ingest", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_notice_line_and_encoding_option(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    legacy = src / "legacy.txt"
    legacy.write_bytes(CP1252_TEXT.encode("cp1252"))
    home = tmp_path / "cli-home"
    proc = _cli([str(legacy), "--json", "--no-progress"], home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"notice: {legacy}: not UTF-8, read as cp1252 (detected; --encoding forces another)"]
    assert json.loads(proc.stdout) == {"added": 1, "updated": 0, "unchanged": 0, "failed": [],
                                       "notices": [f"{legacy}: not UTF-8, read as cp1252 (detected; --encoding forces another)"]}
    # forcing the encoding it was detected in: same article, so unchanged, and no notice
    again = _cli([str(legacy), "--encoding", "cp1252", "--no-progress"], home)
    assert (again.returncode, again.stderr, again.stdout.strip()) == (0, "", "added 0, updated 0, unchanged 1, failed 0")
    bad = _cli([str(legacy), "--encoding", "klingon"], home)
    assert bad.returncode == 2 and bad.stderr.strip() == "whosaid: unknown encoding 'klingon' (try utf-8, cp1252, latin-1)"


# -- .docx --------------------------------------------------------------------------------------


def _docx(path: Path, paragraphs: list[tuple[str, str | None]], title: str = "") -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = title
    for text, style in paragraphs:
        d.add_paragraph(text, style=style)
    d.save(str(path))
    return path


def test_docx_title_from_properties_paragraphs_joined_with_exact_offsets(tmp_path: Path) -> None:
    p = _docx(tmp_path / "release.docx", [
        ("Ministry statement", "Heading 1"),
        ("The ministry said the port would stay public. \u201cWe will not sell,\u201d the minister said.", None),
        ("", None),
        ("   ", None),
        ("The union welcomed the news. It had warned of strikes.", None),
    ], title="Port stays public")
    a = _one(p).article
    assert (a.id, a.title) == ("release", "Port stays public")
    assert a.text == ("Ministry statement\n\nThe ministry said the port would stay public. \u201cWe will not sell,\u201d the minister said."
                      "\n\nThe union welcomed the news. It had warned of strikes.")
    spans = split_sentences(a.text)
    assert [a.text[s:e] for s, e in spans][-2:] == ["The union welcomed the news.", "It had warned of strikes."]


def test_docx_title_from_first_title_or_heading_paragraph(tmp_path: Path) -> None:
    p = _docx(tmp_path / "memo.docx", [
        ("Harbour talks collapse", "Title"),
        ("Talks on the harbour collapsed on Monday, the union said.", None),
        ("Next steps", "Heading 2"),
        ("The ministry denied that talks had collapsed.", None),
    ])
    a = _one(p).article
    assert a.title == "Harbour talks collapse"
    assert a.text == ("Talks on the harbour collapsed on Monday, the union said.\n\nNext steps\n\n"
                      "The ministry denied that talks had collapsed.")
    plain = _docx(tmp_path / "no-heading_here.docx", [("Only a body sentence here.", None)])
    assert _one(plain).article.title == "No heading here"


def test_docx_broken_or_empty_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.docx"
    junk.write_bytes(b"PK\x03\x04 this is not really a zip file" * 10)
    assert _error(junk).error.startswith("not a readable .docx file (")
    text_named_docx = tmp_path / "plain.docx"
    text_named_docx.write_text("The mayor said no.")
    assert _error(text_named_docx).error.startswith("not a readable .docx file (")
    empty = _docx(tmp_path / "empty.docx", [("Just a title", "Title"), ("", None)])
    assert _error(empty).error == "no article text in the .docx file"


def test_docx_that_unpacks_past_the_cap_is_refused_unread(tmp_path: Path) -> None:
    import zipfile

    bomb = _docx(tmp_path / "bomb.docx", [("A real paragraph. It is short.", None)])
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/media/filler.bin", b"\0" * 2_000_000)  # compresses to a few KB
    limits = IngestSettings(max_file_bytes=500_000)
    assert bomb.stat().st_size < 500_000
    e = _error(bomb, limits=limits)
    assert e.error.startswith(".docx file unpacks to ") and "over the 500000 bytes cap" in e.error
    assert _one(bomb).article.text == "A real paragraph. It is short."  # under the default cap it reads


# -- PDF ----------------------------------------------------------------------------------------

PDF_PAGES = [
    ["The harbour minister denied that the port would be sold.", "The union warned of strikes at the docks."],
    ["According to the port authority, 412 ships called last year.", "Officials said the figure was a record."],
    ["The opposition called the denial \"a smokescreen\".", "A vote is expected in March."],
]


def _pdf(path: Path, pages: list[list[str]], title: str | None = None, blank: bool = False) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for lines in pages:
        pdf.add_page()
        if blank:
            pdf.set_fill_color(120, 120, 120)
            pdf.rect(20, 20, 150, 200, style="F")  # a "scan": drawing, no text layer
            continue
        for line in lines:
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_pdf_text_pages_and_exact_offsets(tmp_path: Path) -> None:
    p = _pdf(tmp_path / "report.pdf", PDF_PAGES, title="Port report")
    a = _one(p).article
    assert (a.id, a.title) == ("report", "Port report")
    assert a.text == "\n\n".join("\n".join(lines) for lines in PDF_PAGES)
    # the page map covers each page's text exactly, in order
    assert [(a.text[s:e], n) for s, e, n in a.pages] == [("\n".join(lines), i) for i, lines in enumerate(PDF_PAGES, start=1)]
    # every sentence finds its page
    found = {a.text[s:e]: a.page_of(s) for s, e in split_sentences(a.text)}
    want = {line: i for i, lines in enumerate(PDF_PAGES, start=1) for line in lines}
    assert {t: found.get(t) for t in want} == want
    assert a.page_of(len(a.text)) is None
    # the page map is stored and hashed with a PDF (schema 7); an article without one hashes as before
    from ingest.pipeline import article_version

    assert a.model_dump()["pages"] == a.pages
    assert article_version(a, "x") != article_version(a.model_copy(update={"pages": []}), "x")
    plain = a.model_copy(update={"pages": []})
    import hashlib

    before = json.dumps({**plain.model_dump(exclude={"pages"}), "extraction": "x"}, sort_keys=True, ensure_ascii=False)
    assert article_version(plain, "x") == hashlib.sha256(before.encode()).hexdigest()[:16]


def test_pdf_blank_pages_are_skipped_but_numbers_kept(tmp_path: Path) -> None:
    p = _pdf(tmp_path / "gap.pdf", [PDF_PAGES[0], [], PDF_PAGES[2]])
    a = _one(p).article
    assert a.title == "Gap"  # no Title metadata: the file name
    assert [n for _, _, n in a.pages] == [1, 3]
    assert a.page_of(a.text.index("The opposition")) == 3


def test_pdf_reading_stops_at_the_article_cap(tmp_path: Path) -> None:
    p = _pdf(tmp_path / "long.pdf", PDF_PAGES)
    first_page = len("\n".join(PDF_PAGES[0]))
    assert first_page <= 100
    e = _error(p, limits=IngestSettings(max_article_chars=100))
    assert e.error == "article text is over 100 characters by page 2 of 3, over the cap (WHOSAID_INGEST__MAX_ARTICLE_CHARS)"


def test_pdf_without_text_layer_or_not_a_pdf_is_one_line(tmp_path: Path) -> None:
    scan = _pdf(tmp_path / "scan.pdf", [[], []], blank=True)
    assert str(_error(scan)) == (f"{scan}: no text layer in the PDF (2 page(s) of images: a scan?); run OCR on it first (e.g. ocrmypdf)")
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.7\n this is not a pdf body at all \n%%EOF\n")
    assert _error(junk).error.startswith("not a readable PDF (")
    text = tmp_path / "text.pdf"
    text.write_text("The mayor said no.")
    assert _error(text).error.startswith("not a readable PDF (")


def test_txt_dateline_gives_source_and_iso_date(tmp_path):
    f = tmp_path / "story.txt"
    f.write_text(
        "Port Talks Resume\n\n[Fictional.]\nKESSEL, March 20, 2026 (Valdoria Ledger) — Talks resumed.\n", encoding="utf-8"
    )
    (loaded,) = list(load_file(f))
    assert (loaded.article.source, loaded.article.published) == ("Valdoria Ledger", "2026-03-20")
    plain = tmp_path / "plain.txt"
    plain.write_text("Title\n\nNo dateline here (Someone) — at all.\n", encoding="utf-8")
    (loaded,) = list(load_file(plain))
    assert (loaded.article.source, loaded.article.published) == ("", "")


# -- PDF text quality: paragraphs, hyphens, running headers and footers ------------------------

PARAGRAPH = ("The harbour minister denied on Monday that the port of Kessel would be sold to a foreign consortium, "
             "calling the reports of a secret agreement speculation. The union warned of strikes at the docks if the sale "
             "went ahead, and the opposition demanded a parliamentary inquiry into the long-standing consortium.")


HEADINGS = ["The sale", "The union", "The inquiry", "The winter"]
WORKS = ["dock", "crane", "quay", "road"]


def _report_pdf(path: Path, pages: int = 4) -> Path:
    """A report as offices print them: a running header and a "Page n of N" footer on every page, a
    heading, a paragraph wrapped by the layout, and a word hyphenated by hand at a line's end."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=11)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(0, 8, "Valdoria Ledger - Port Authority Annual Report 2026", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 8, HEADINGS[n - 1], new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 6, PARAGRAPH.replace("minister", f"minister (part {n})"), new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 6, f"Officials said the {WORKS[n - 1]} work would con-", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 6, "tinue through the winter.", new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(-20)
        pdf.cell(0, 8, f"Page {n} of {pages}", align="C")
    pdf.output(str(path))
    return path


def test_pdf_paragraphs_are_whole_hyphens_joined_running_matter_dropped(tmp_path: Path) -> None:
    a = _one(_report_pdf(tmp_path / "annual.pdf")).article
    assert "Annual Report" not in a.text and "Page 1 of 4" not in a.text and "of 4" not in a.text
    first = a.text[a.pages[0][0] : a.pages[0][1]]
    assert first == ("The sale\n" + PARAGRAPH.replace("minister", "minister (part 1)")
                     + "\nOfficials said the dock work would continue through the winter.")
    spans = split_sentences(a.text)
    sentences = [a.text[s:e] for s, e in spans]
    # a sentence the layout wrapped over two lines is one sentence, on its page
    wrapped = "The union warned of strikes at the docks if the sale went ahead, and the opposition demanded a parliamentary inquiry into the long-standing consortium."
    assert sentences.count(wrapped) == 4
    assert [a.page_of(s) for (s, e) in spans if a.text[s:e] == wrapped] == [1, 2, 3, 4]
    assert [t for t in sentences if t.startswith("Officials")] == [f"Officials said the {w} work would continue through the winter." for w in WORKS]
    # exact offsets: every page range is the page's text and every sentence reads back
    assert all(a.text[s:e] == t for (s, e), t in zip(spans, sentences))
    assert [n for _, _, n in a.pages] == [1, 2, 3, 4] and a.pages[-1][1] == len(a.text)


def test_pdf_two_pages_keep_a_repeated_line_and_a_hyphen_the_document_uses(tmp_path: Path) -> None:
    """Under 3 pages nothing counts as running matter (a repeated line is content); a word the document
    writes with a hyphen keeps it when it is split at that hyphen."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=11)
    for _ in range(2):
        pdf.add_page()
        pdf.cell(0, 8, "Statement on the port", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 6, "The long-standing deal stands, the long-", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 6, "standing minister said.", new_x="LMARGIN", new_y="NEXT")
    p = tmp_path / "two.pdf"
    pdf.output(str(p))
    a = _one(p).article
    assert a.text == "\n\n".join(["Statement on the port\nThe long-standing deal stands, the long-standing minister said."] * 2)


def test_docx_tables_are_read_where_they_stand_cells_joined(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("Port figures", style="Title")
    d.add_paragraph("The authority published its figures on Monday.")
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate([["Year", "Ships", "Note"], ["2025", "412", "a record, the authority said"], ["2024", "", ""]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    merged = table.cell(2, 1).merge(table.cell(2, 2))
    merged.text = "no figures"
    d.add_paragraph("The union disputed the figures.")
    p = tmp_path / "figures.docx"
    d.save(str(p))
    a = _one(p).article
    assert a.title == "Port figures"
    assert a.text == ("The authority published its figures on Monday.\n\nYear | Ships | Note\n\n2025 | 412 | a record, the authority said"
                      "\n\n2024 | no figures\n\nThe union disputed the figures.")
    assert "2025 | 412 | a record, the authority said" in [a.text[s:e] for s, e in split_sentences(a.text)]


# -- pages in citations, the CLI and the API -----------------------------------------------------


def test_citations_give_the_pdf_page_in_ask_json_the_cli_line_and_the_api(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from rag.embeddings import MiniLMOnnxEmbedder
    from rag.engine import Engine
    from rag.settings import Settings
    from rag.store import Store
    from ui.server import create_app

    src = tmp_path / "in"
    src.mkdir()
    pages = [["The harbour minister denied that the port would be sold.", "The union warned of strikes at the docks."],
             ["Officials said the talks would resume in April."],
             ["According to the port authority, 412 ships called at Kessel last year.", "The figure was a record."]]
    _pdf(src / "harbour-report.pdf", pages, title="Harbour report")
    (src / "note.txt").write_text("Dock note\n\nThe ferry timetable changes in May.\n")
    home = tmp_path / "home"
    env = {**os.environ, "WHOSAID_HOME": str(home)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    assert run("ingest", str(src), "--no-progress").returncode == 0
    out = json.loads(run("ask", "How many ships called at Kessel last year?", "--json").stdout)
    cited = {c["text"]: c["page"] for c in out["citations"]}
    assert cited["According to the port authority, 412 ships called at Kessel last year."] == 3
    line = [x for x in run("ask", "How many ships called at Kessel last year?").stdout.splitlines() if "412" not in x and "harbour-report" in x]
    assert line and ", page 3, sentence " in line[0]
    ferry = json.loads(run("ask", "When does the ferry timetable change?", "--json").stdout)
    assert [c["page"] for c in ferry["citations"] if c["article_id"] == "note"] == [None]
    store = Store(Settings(home=home), MiniLMOnnxEmbedder())
    try:
        client = TestClient(create_app(Settings(home=home), engine_factory=lambda s, name: Engine(store)))
        body = client.get("/api/articles/harbour-report").json()
        assert [p["page"] for p in body["pages"]] == [1, 2, 3]
        assert [(s["text"], s["page"]) for s in body["sentences"]][-2:] == [
            ("According to the port authority, 412 ships called at Kessel last year.", 3), ("The figure was a record.", 3)]
        assert all(body["text"][p["start"] : p["end"]] for p in body["pages"])
        assert client.get("/api/articles/note").json()["pages"] == []
    finally:
        store.close()


def test_pdf_bare_page_numbers_go_in_a_multipage_pdf_only(tmp_path: Path) -> None:
    def numbered(path: Path, pages: int) -> Path:
        from fpdf import FPDF

        pdf = FPDF()
        pdf.set_auto_page_break(False)
        pdf.set_font("Helvetica", size=11)
        for n in range(1, pages + 1):
            pdf.add_page()
            pdf.cell(0, 8, f"Paragraph {'one two three'.split()[n - 1]} of the statement.", new_x="LMARGIN", new_y="NEXT")
            pdf.set_y(-20)
            pdf.cell(0, 8, f"- {n} -", align="C")
        pdf.output(str(path))
        return path

    two = _one(numbered(tmp_path / "two.pdf", 2)).article
    assert two.text == "Paragraph one of the statement.\n\nParagraph two of the statement."
    one = _one(numbered(tmp_path / "one.pdf", 1)).article
    assert one.text == "Paragraph one of the statement.\n- 1 -"
