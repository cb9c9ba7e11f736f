"""The chat, the side panel and the embed widget in a real headless Chromium (Debian's package,
driven by Playwright with ``executable_path``; no downloaded browser), against ``whosaid serve``
on 127.0.0.1. Screenshots go to ``test-artifacts/``: one per test (its name, the whole page, at the end)
and one per view at each width (``view-*-1280.png``, ``view-*-800.png``: what the reader sees)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import SAMPLES
from tests.servers import CHROMIUM, CHROMIUM_ARGS, free_port, serving

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
EVIL = ("Lab report\n\nThe lab <script>window.__xss = 1</script> denied that samples were lost. "
        "Its director wrote <img src=x onerror=\"window.__xss = 2\"> in the log.\n")

#: Articles with an original URL (one that must become a link, one that must not) and a source and date.
DESK = [
    {"id": "courier-ferry", "title": "Ferry Operator Denies Timetable Cuts", "source": "Kessel Courier", "published": "2026-04-02",
     "url": "https://news.example/kessel/ferry?id=7&page=(2)",
     "text": "KESSEL — The ferry operator Skarn Lines denied that it would cut the winter timetable. "
             "Its director, Marta Lindqvist, said the new timetable starts on May 4 with twelve daily crossings."},
    {"id": "bulletin-bridge", "title": "Bridge Works Bulletin", "source": "Harbour Bulletin", "published": "2026-04-05",
     "url": "javascript:window.__xss = 3",
     "text": "The harbour office denied that the Orvik bridge would close in June. "
             "The resurfacing of the Orvik bridge will take nine nights, the office said."},
]
#: A long article whose denial comes last: its side panel must scroll to show the sentence.
LONG = {"id": "08b-harbour-dredging-review", "title": "Harbour Dredging Review", "source": "Kessel Courier", "published": "2026-04-09",
        "text": "KESSEL — The harbour office published its dredging survey on Thursday. "
                + " ".join(f"Section {n} of the outer channel measured {10 + n % 5} metres at low tide." for n in range(1, 61))
                + " The dredging contractor Marlow Works denied that the outer channel had silted up again."}
DESK.append(LONG)
WIDTHS = [1280, 800]
#: ms: returns as soon as the condition holds; CI machines may be loaded many times over (lower it to iterate)
WAIT = int(os.environ.get("WHOSAID_BROWSER_WAIT_MS", "300000"))
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")


def report_pdf(path: Path) -> None:
    """A three-page PDF report (fpdf2, a test dependency) whose figure is on page 3."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Harbour traffic report")
    pdf.set_font("Helvetica", size=12)
    for lines in (["The harbour office prepared this report in April.", "It covers cargo and passenger traffic."],
                  ["Passenger numbers were steady through the winter months."],
                  ["According to the port authority, 412 ships called at Kessel last year.", "The figure was a record."]):
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copytree(SAMPLES, corpus / "samples")
    (corpus / "lab-report.txt").write_text(EVIL)
    (corpus / "desk.jsonl").write_text("".join(json.dumps(a) + "\n" for a in DESK))
    report_pdf(corpus / "harbour-report.pdf")
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(corpus)], env=env, check=True, capture_output=True)
    port = free_port()
    command = [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(home)]
    with serving(command, f"http://127.0.0.1:{port}/healthz", name="whosaid serve"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT)  # navigation and every wait: generous, a loaded machine is slow
    page = context.new_page()
    page.requests = []  # type: ignore[attr-defined]
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    hosts = {urlparse(u).hostname for u in page.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    context.close()
    assert hosts <= {"127.0.0.1"}, f"requests left loopback: {hosts}"


def snap(page, name: str) -> None:
    """What the reader sees now (the viewport), for a person to look at: test-artifacts/view-NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"view-{name}.png"))


def ask(frame, question: str) -> None:
    box = frame.locator("#whosaid-question textarea")
    box.wait_for(timeout=WAIT)
    box.fill(question)
    box.press("Enter")


def test_chat_answers_with_citations_and_highlights_the_sentence(page, base_url: str) -> None:
    page.goto(f"{base_url}/chat/", wait_until="load")
    ask(page, "Who denied what?")
    links = page.locator('#whosaid-chat a[href^="#cite/"]')
    links.first.wait_for(timeout=WAIT)
    assert "deny" in page.locator("#whosaid-chat").inner_text()
    href = links.first.get_attribute("href")
    _, article_id, start, end = href.split("/")
    links.first.click()
    mark = page.locator("#whosaid-highlight")
    mark.wait_for(timeout=WAIT)
    article = page.request.get(f"{base_url}/api/articles/{article_id}").json()
    assert mark.inner_text().strip() == article["text"][int(start) : int(end)].strip()
    assert page.locator("#whosaid-article h3").inner_text() == article["title"]
    assert mark.is_visible()


def test_claims_tab_filters_the_ledger(page, base_url: str) -> None:
    page.goto(f"{base_url}/chat/", wait_until="load")
    page.get_by_role("tab", name="Who said what").click()
    page.locator("#whosaid-speaker textarea, #whosaid-speaker input").first.fill("Solberg")
    page.locator("#whosaid-ledger-show").click()
    page.wait_for_function("document.querySelector('#whosaid-ledger') && document.querySelector('#whosaid-ledger').innerText.includes('Solberg')", timeout=WAIT)
    assert "deny" in page.locator("#whosaid-ledger").inner_text()


def test_article_markup_is_shown_as_text_and_never_runs(page, base_url: str) -> None:
    page.goto(f"{base_url}/chat/", wait_until="load")
    ask(page, "What did the lab deny about the samples?")
    link = page.locator('#whosaid-chat a[href^="#cite/lab-report/"]').first
    link.wait_for(timeout=WAIT)
    assert "<script>" in page.locator("#whosaid-chat").inner_text()
    link.click()
    page.locator("#whosaid-highlight").wait_for(timeout=WAIT)
    panel = page.locator("#whosaid-article").inner_text()
    assert "<script>window.__xss = 1</script>" in panel and '<img src=x onerror="window.__xss = 2">' in panel
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None and page.dialogs == []
    assert page.locator("#whosaid-article img, #whosaid-article script, #whosaid-chat img[src='x']").count() == 0


def test_embed_demo_widget_answers(page, base_url: str) -> None:
    page.goto(f"{base_url}/embed-demo", wait_until="load")
    assert "embed.js" in page.locator("#snippet").inner_text()
    page.locator("iframe.whosaid-embed").wait_for(timeout=WAIT)
    frame = page.frame_locator("iframe.whosaid-embed")
    ask(frame, "Who ruled out water rationing?")
    frame.locator('#whosaid-chat a[href^="#cite/"]').first.wait_for(timeout=WAIT)
    assert "rationing" in frame.locator("#whosaid-chat").inner_text()


def test_content_free_question_gets_a_message_not_an_error_badge(page, base_url: str) -> None:
    page.goto(f"{base_url}/chat/", wait_until="load")
    ask(page, "Who?")
    page.wait_for_function("document.querySelector('#whosaid-chat') && "
                           "document.querySelector('#whosaid-chat').innerText.includes('names nothing to look for')", timeout=WAIT)
    assert "The articles do not say" in page.locator("#whosaid-chat").inner_text()  # the notice comes with the final answer
    page.wait_for_timeout(500)
    assert page.locator(".toast-body.error, .toast-wrap .error, [data-testid='toast-body'].error").count() == 0
    assert "Error" not in page.locator("body").inner_text()


def test_ledger_groups_by_speaker_and_keeps_the_mention(page, base_url: str) -> None:
    page.goto(f"{base_url}/chat/", wait_until="load")
    page.get_by_role("tab", name="Who said what").click()
    page.locator("#whosaid-speaker textarea, #whosaid-speaker input").first.fill("Reyland")  # denials, the default stance
    page.locator("#whosaid-ledger-show").click()
    page.wait_for_function("document.querySelector('#whosaid-ledger') && "
                           "document.querySelector('#whosaid-ledger').innerText.includes('Reyland, the harbour minister')", timeout=WAIT)
    table = page.locator("#whosaid-ledger table")
    assert table.locator("thead th").all_inner_texts() == ["As written", "Stance", "What was said", "Article"]
    # one canonical speaker across two articles: one group row, then a row per claim with the mention as written
    assert [t.split("\n")[0] for t in table.locator("tr.speaker .name").all_inner_texts()] == ["Tomas Reyland"]
    assert "2 articles" in table.locator("tr.speaker").inner_text()
    mentions = table.locator("tr.claim td.mention").all_inner_texts()
    assert {"Reyland", "The minister", "Reyland, the harbour minister"} <= set(mentions)
    assert "did not deny" in table.locator("tr.claim td.stance .reads").all_inner_texts()
    titles = set(table.locator("tr.claim td.article .headline").all_inner_texts())
    assert {"Harbour Minister Denies Plan to Sell Port to Foreign Investors", "Port Lease Talks Resume Despite Minister's Denial"} <= titles
    assert "Northern Wire Service · 3 Mar 2026 · sentence 1" in table.locator("tr.claim td.article .meta").all_inner_texts()


def scroller_of(locator) -> int:
    """The element handle index trick is avoided: marks the nearest scrolled ancestor with data-scroller."""
    return locator.evaluate("""(el) => {
        for (let e = el.parentElement; e; e = e.parentElement) {
            const style = getComputedStyle(e);
            if (/(auto|scroll)/.test(style.overflowY) && e.scrollHeight > e.clientHeight) { e.setAttribute("data-scroller", "1"); return e.scrollTop; }
        }
        return -1;
    }""")


def scroll_chat_to(target, at: float = 0.5) -> None:
    """Scroll the conversation (the element ``scroller_of`` marked) as a reader would, until ``target``
    sits at ``at`` of its height (0 top, 0.5 middle). The chat scrolls itself to its end once more some
    300 ms after an answer completes (Gradio's autoscroll), so this repeats until the position has held
    for ten polls of 100 ms with the answer complete."""
    target.evaluate("""(el, at) => new Promise((done) => {
        const box = document.querySelector('[data-scroller]');
        let steady = 0;
        const poll = () => {
            const busy = document.querySelector('#whosaid-chat .generating, #whosaid-chat .pending');
            const off = el.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight * at;
            const want = Math.min(Math.max(0, box.scrollTop + off), box.scrollHeight - box.clientHeight);
            if (busy || Math.abs(box.scrollTop - want) > 2) { box.scrollTop = want; steady = 0; } else { steady += 1; }
            if (steady >= 10) done(); else setTimeout(poll, 100);
        };
        poll();
    })""", at)


def fits(page, selector: str) -> list[str]:
    """Cells under ``selector`` that wrap onto a second line or overflow their box: a header or a
    stance that breaks ("stanc/e") is not readable."""
    return page.evaluate("""(sel) => Array.from(document.querySelectorAll(sel)).filter((el) => {
        const line = parseFloat(getComputedStyle(el).lineHeight) || 20;
        const range = document.createRange(); range.selectNodeContents(el);
        const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
        const lines = new Set(rects.map((r) => Math.round(r.top))).size;
        return lines > 1 || el.scrollWidth > el.clientWidth + 1;
    }).map((el) => el.innerText)""", selector)


def words_broken(page, selector: str) -> list[str]:
    """Words of the cells under ``selector`` that the browser split across two lines."""
    return page.evaluate("""(sel) => {
        const broken = [];
        for (const el of document.querySelectorAll(sel)) {
            const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const re = /[A-Za-z0-9']+/g; let m;
                while ((m = re.exec(node.data))) {
                    const range = document.createRange(); range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
                    const tops = new Set(Array.from(range.getClientRects()).filter((r) => r.width > 0).map((r) => Math.round(r.top)));
                    if (tops.size > 1) broken.push(m[0]);
                }
            }
        }
        return broken;
    }""", selector)


@pytest.mark.parametrize("width", WIDTHS)
def test_attribution_answer_is_grouped_by_speaker_and_article(page, base_url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{base_url}/chat/", wait_until="load")
    ask(page, "Who denied what?")
    chat = page.locator("#whosaid-chat")
    chat.locator('a[href^="#cite/courier-ferry/"]').first.wait_for(timeout=WAIT)
    text = chat.inner_text()
    # one heading per speaker, under it each article with its source and date, then its claims
    reyland = chat.locator("strong", has_text="Tomas Reyland")
    assert reyland.count() == 1
    first, second = (text.index(t) for t in ("Harbour Minister Denies Plan to Sell Port", "Port Lease Talks Resume Despite"))
    assert text.index("Tomas Reyland") < first < second
    assert text.index("Northern Wire Service · 3 Mar 2026") > text.index("Tomas Reyland")
    assert "Ferry Operator Denies Timetable Cuts\nKessel Courier · 2 Apr 2026 · original ↗" in text
    assert "deny (denied) — that it would cut the winter timetable" in text
    # the article's URL is a link that opens in a new tab; a javascript: URL is no link at all
    original = chat.locator('a[href^="https://news.example/"]')
    assert original.count() == 1
    assert original.get_attribute("href") == "https://news.example/kessel/ferry?id=7&page=%282%29"
    assert original.get_attribute("target") == "_blank" and "noopener" in (original.get_attribute("rel") or "")
    assert "Bridge Works Bulletin\nHarbour Bulletin · 5 Apr 2026\n" in text
    assert page.locator('a[href^="javascript:"], a[href*="__xss"]').count() == 0
    scroller_of(reyland)
    scroll_chat_to(reyland, 0.02)  # the top of the answer, for the person looking at the screenshot
    snap(page, f"attribution-{width}")
    assert page.evaluate("window.__xss") is None and page.dialogs == []


@pytest.mark.parametrize("width", WIDTHS)
def test_citation_click_never_scrolls_the_conversation(page, base_url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 700})
    page.goto(f"{base_url}/chat/", wait_until="load")
    ask(page, "Who denied what?")
    links = page.locator('#whosaid-chat a[href^="#cite/"]')
    links.first.wait_for(timeout=WAIT)
    page.locator('#whosaid-chat a[href^="#cite/courier-ferry/"]').first.wait_for(timeout=WAIT)
    # a citation in the middle of a long answer, to a sentence at the end of a long article
    link = page.locator('#whosaid-chat a[href^="#cite/08b-harbour-dredging-review/"]').first
    assert scroller_of(link) >= 0, "the answer should be long enough to scroll"
    chat = page.locator("[data-scroller]")
    scroll_chat_to(link)
    page.evaluate("window.scrollTo(0, 40)")
    before = (chat.evaluate("(el) => el.scrollTop"), page.evaluate("window.scrollY"))
    assert before[0] > 0 and before[1] > 0
    # a real mouse click where the link is on screen (Playwright's own click would first scroll it into view)
    box = link.bounding_box()
    assert box and 0 < box["y"] and box["y"] + box["height"] < page.viewport_size["height"]
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    mark = page.locator("#whosaid-highlight")
    mark.wait_for(timeout=WAIT)
    assert mark.inner_text().startswith("The dredging contractor Marlow Works denied")
    after = (chat.evaluate("(el) => el.scrollTop"), page.evaluate("window.scrollY"))
    assert after == before, f"the click scrolled the conversation or the page: {before} -> {after}"
    # the panel scrolled itself (the sentence is past its first screen): the mark is inside its visible box
    assert page.evaluate("document.getElementById('whosaid-article').scrollTop") > 0
    inside = page.evaluate("""() => { const p = document.getElementById('whosaid-article').getBoundingClientRect();
        const m = document.getElementById('whosaid-highlight').getBoundingClientRect();
        return m.top >= p.top - 1 && m.bottom <= p.bottom + 1 && m.height > 0 && m.bottom <= window.innerHeight; }""")
    assert inside
    snap(page, f"citation-click-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_plain_answer_opens_the_article_with_source_date_and_original_link(page, base_url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{base_url}/chat/", wait_until="load")
    ask(page, "When does the new ferry timetable start?")
    link = page.locator('#whosaid-chat a[href^="#cite/courier-ferry/"]').first
    link.wait_for(timeout=WAIT)
    assert "Ferry Operator Denies Timetable Cuts: “" in page.locator("#whosaid-chat").inner_text()  # the plain sources list
    link.click()
    page.locator("#whosaid-highlight").wait_for(timeout=WAIT)
    panel = page.locator("#whosaid-article")
    assert panel.locator("h3").inner_text() == "Ferry Operator Denies Timetable Cuts"
    assert panel.locator(".meta").inner_text() == "Kessel Courier · 2 Apr 2026 · original ↗"
    original = panel.locator("a.original")
    assert original.get_attribute("href") == "https://news.example/kessel/ferry?id=7&page=(2)"
    assert original.get_attribute("target") == "_blank" and original.get_attribute("rel") == "noopener noreferrer"
    assert "page " not in panel.locator(".meta").inner_text()  # no page map: no page number
    snap(page, f"plain-answer-panel-{width}")
    # a javascript: URL in an article is no link in the panel either
    ask(page, "Will the Orvik bridge close in June?")
    bridge = page.locator('#whosaid-chat a[href^="#cite/bulletin-bridge/"]').first
    bridge.wait_for(timeout=WAIT)
    bridge.click()
    page.wait_for_function("document.querySelector('#whosaid-article h3') && "
                           "document.querySelector('#whosaid-article h3').innerText === 'Bridge Works Bulletin'", timeout=WAIT)
    assert panel.locator(".meta").inner_text() == "Harbour Bulletin · 5 Apr 2026"
    assert panel.locator("a").count() == 0
    assert page.evaluate("window.__xss") is None


@pytest.mark.parametrize("width", WIDTHS)
def test_ledger_row_opens_its_sentence_and_columns_fit(page, base_url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{base_url}/chat/", wait_until="load")
    page.get_by_role("tab", name="Who said what").click()
    table = page.locator("#whosaid-ledger table")
    table.locator("tr.claim").first.wait_for(timeout=WAIT)
    assert fits(page, "#whosaid-ledger thead th") == []
    assert fits(page, "#whosaid-ledger td.stance .reads") == []
    assert words_broken(page, "#whosaid-ledger table") == []
    # the table fits its column: nothing cut off on the right
    assert page.evaluate("(() => { const w = document.getElementById('whosaid-ledger'); "
                         "return w.querySelector('table').getBoundingClientRect().right <= w.getBoundingClientRect().right + 1; })()")
    row = table.locator("tr.claim", has_text="that the port is for sale").first
    href = row.get_attribute("data-cite")
    _, article_id, start, end = href.split("/")
    row.locator("td.content").click()
    mark = page.locator("#whosaid-ledger-article #whosaid-highlight")
    mark.wait_for(timeout=WAIT)
    article = page.request.get(f"{base_url}/api/articles/{article_id}").json()
    assert mark.inner_text().strip() == article["text"][int(start) : int(end)].strip()
    assert "that the port is for sale" in mark.inner_text()
    assert page.locator("#whosaid-ledger-article .meta").inner_text() == "Northern Wire Service · 20 Mar 2026"
    # the panel, wherever its column is (beside the table, or wrapped below it and opened as a sheet), shows the sentence
    inside = page.evaluate("""() => { const p = document.getElementById('whosaid-ledger-article').getBoundingClientRect();
        const m = document.getElementById('whosaid-highlight').getBoundingClientRect();
        return m.height > 0 && m.top >= Math.max(p.top, 0) - 1 && m.bottom <= Math.min(p.bottom, window.innerHeight) + 1; }""")
    assert inside
    snap(page, f"ledger-row-{width}")


def test_a_pdf_citation_reads_its_page_in_the_answer_and_the_panel(page, base_url: str) -> None:
    page.goto(f"{base_url}/chat/", wait_until="load")
    ask(page, "How many ships called at Kessel last year?")
    link = page.locator('#whosaid-chat a[href^="#cite/harbour-report/"]').first
    link.wait_for(timeout=WAIT)
    assert "Harbour traffic report, page 3: “According to the port authority, 412 ships" in page.locator("#whosaid-chat").inner_text()
    link.click()
    page.locator("#whosaid-highlight").wait_for(timeout=WAIT)
    assert "412 ships" in page.locator("#whosaid-highlight").inner_text()
    assert page.locator("#whosaid-article .meta").inner_text() == "page 3"
    snap(page, "pdf-page-1280")
