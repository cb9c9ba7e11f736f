"""Load speed of the issue-13 inputs: PDF (pages/s), .docx, RSS feed and URL list (articles/s).

Every input is generated here from the bundled sample articles (``samples/articles``): a PDF laid
out as offices print reports (running header, page-number footer, paragraphs wrapped by the
layout), a .docx of paragraphs with a table after every article, an RSS file of HTML entries, and
a URL list served by a real HTTP server on 127.0.0.1. Each is read with ``ingest.loaders.load_file``
(loading only: splitting, embedding and storing are ``bench/ingest.py``'s), best and median of
``--repeat`` runs. ``--raw PDF`` instead times the text extraction alone with pypdfium2 and, when it
is installed, pdfplumber (run it with a Python that has pdfplumber: it is not a project dependency).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from html import escape  # noqa: E402

SAMPLES = _ROOT / "samples" / "articles"


def _articles() -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of each sample article."""
    out = []
    for f in sorted(SAMPLES.glob("*.txt")):
        title, _, body = f.read_text(encoding="utf-8").partition("\n\n")
        out.append((title.strip(), [p.strip().replace("\n", " ") for p in body.split("\n") if p.strip()]))
    return out


def _latin1(text: str) -> str:
    """fpdf2's core fonts are latin-1: typographic quotes and dashes as their ASCII forms."""
    table = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2014": "-", "\u2013": "-", "\u2026": "..."}
    return "".join(table.get(c, c) for c in text).encode("latin-1", "replace").decode("latin-1")


def make_pdf(path: Path, pages: int) -> int:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=10)
    paragraphs = [p for _, ps in _articles() for p in ps]
    k = 0
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(0, 6, "Valdoria Ledger - Harbour Report 2026", new_x="LMARGIN", new_y="NEXT")
        while pdf.get_y() < 250:
            pdf.multi_cell(0, 5, _latin1(paragraphs[k % len(paragraphs)]), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
            k += 1
        pdf.set_y(-15)
        pdf.cell(0, 6, f"Page {n} of {pages}", align="C")
    pdf.output(str(path))
    return pages


def make_docx(path: Path, copies: int) -> int:
    import docx

    d = docx.Document()
    d.add_paragraph("Harbour dossier", style="Title")
    n = 0
    for _ in range(copies):
        for title, paragraphs in _articles():
            d.add_paragraph(title, style="Heading 1")
            for p in paragraphs:
                d.add_paragraph(p)
            t = d.add_table(rows=3, cols=3)
            for r in range(3):
                for c in range(3):
                    t.cell(r, c).text = f"cell {r}.{c} of {title[:20]}"
            n += 1
    d.save(str(path))
    return n


def make_feed(path: Path, entries: int) -> int:
    arts = _articles()
    items = []
    for i in range(entries):
        title, paragraphs = arts[i % len(arts)]
        body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        items.append(f"<item><title>{escape(title)} ({i})</title><link>https://ledger.example/{i}.html</link><guid>ledger-{i}</guid>"
                     f"<pubDate>Fri, 20 Mar 2026 09:30:00 GMT</pubDate><description>{escape(body)}</description></item>")
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Valdoria Ledger</title>'
                    f"<link>https://ledger.example/</link><description>News</description>{''.join(items)}</channel></rss>", encoding="utf-8")
    return entries


def page_html(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (f"<!doctype html><html><head><title>{escape(title)}</title><meta property='og:site_name' content='Harbour Herald'>"
            f"<meta name='date' content='2026-03-25'></head><body><nav>Home | World</nav><article><h1>{escape(title)}</h1>"
            f"{body}</article><footer>Copyright</footer></body></html>").encode()


def timed(fn, repeat: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), result


def raw(pdf: Path, repeat: int) -> None:
    """Text extraction alone, per page: pypdfium2 against pdfplumber (when importable)."""
    import pypdfium2 as pdfium

    def with_pdfium() -> int:
        doc = pdfium.PdfDocument(str(pdf))
        chars = 0
        for i in range(len(doc)):
            page = doc[i]
            tp = page.get_textpage()
            chars += len(tp.get_text_range())
            tp.close()
            page.close()
        pages = len(doc)
        doc.close()
        return pages

    rows = [("pypdfium2", *timed(with_pdfium, repeat))]
    try:
        import pdfplumber

        def with_plumber() -> int:
            with pdfplumber.open(str(pdf)) as doc:
                for page in doc.pages:
                    page.extract_text()
                return len(doc.pages)

        rows.append((f"pdfplumber {pdfplumber.__version__}", *timed(with_plumber, repeat)))
    except ImportError:
        rows.append(("pdfplumber", float("nan"), float("nan"), 0))
        print("pdfplumber is not installed in this Python", file=sys.stderr)
    print("| extractor | pages | best s | pages/s |\n| --- | ---: | ---: | ---: |")
    for name, best, _, pages in rows:
        print(f"| {name} | {pages} | {best:.3f} | {pages / best:,.0f} |" if pages else f"| {name} | - | - | - |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=200, help="PDF pages")
    ap.add_argument("--copies", type=int, default=10, help=".docx: copies of the sample articles")
    ap.add_argument("--entries", type=int, default=500, help="RSS entries")
    ap.add_argument("--urls", type=int, default=100, help="pages in the URL list")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--raw", type=Path, help="time text extraction alone on this PDF (pypdfium2, pdfplumber)")
    ap.add_argument("--make-pdf", type=Path, help="write the generated PDF here and exit")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if args.raw:
        raw(args.raw, args.repeat)
        return
    if args.make_pdf:
        make_pdf(args.make_pdf, args.pages)
        return

    from ingest.loaders import Loaded, load_file
    from tests.servers import Site

    def load(path: Path) -> tuple[int, int, int]:
        items = list(load_file(path))
        ok = [i for i in items if isinstance(i, Loaded)]
        return len(ok), len(items) - len(ok), sum(len(i.article.text) for i in ok)

    rows, figures = [], {}
    with tempfile.TemporaryDirectory(prefix="whosaid-bench-inputs-") as tmp:
        d = Path(tmp)
        pages = make_pdf(d / "report.pdf", args.pages)
        best, med, (n, bad, chars) = timed(lambda: load(d / "report.pdf"), args.repeat)
        rows.append(("PDF", f"{pages} pages, {(d / 'report.pdf').stat().st_size / 1e6:.1f} MB", best, med, f"{pages / best:,.0f} pages/s"))
        figures["pdf_pages_per_s"] = pages / best
        arts = make_docx(d / "dossier.docx", args.copies)
        best, med, (n, bad, chars) = timed(lambda: load(d / "dossier.docx"), args.repeat)
        rows.append((".docx", f"1 file of {arts} articles' text and tables, {chars / 1e3:,.0f} K chars", best, med, f"{chars / best / 1e6:.1f} M chars/s"))
        figures["docx_chars_per_s"] = chars / best
        entries = make_feed(d / "ledger.rss", args.entries)
        best, med, (n, bad, chars) = timed(lambda: load(d / "ledger.rss"), args.repeat)
        rows.append(("RSS file", f"{entries} entries", best, med, f"{n / best:,.0f} articles/s"))
        figures["feed_articles_per_s"] = n / best
        arts_ = _articles()
        with Site() as site:
            for i in range(args.urls):
                title, paragraphs = arts_[i % len(arts_)]
                site.routes[f"/news/{i}"] = (200, {"Content-Type": "text/html; charset=utf-8"}, page_html(title, paragraphs))
            (d / "desk.urls").write_text("\n".join(site.url(f"/news/{i}") for i in range(args.urls)) + "\n")
            best, med, (n, bad, chars) = timed(lambda: load(d / "desk.urls"), max(1, args.repeat // 2))
            assert bad == 0, bad
        rows.append(("URL list", f"{args.urls} pages from 127.0.0.1", best, med, f"{n / best:,.0f} articles/s"))
        figures["urls_articles_per_s"] = n / best
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores; best and median of {args.repeat} runs\n")
    print("| input | size | best s | median s | speed |\n| --- | --- | ---: | ---: | ---: |")
    for name, size, best, med, speed in rows:
        print(f"| {name} | {size} | {best:.3f} | {med:.3f} | {speed} |")
    if args.json:
        args.json.write_text(json.dumps({k: round(v, 1) for k, v in figures.items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
