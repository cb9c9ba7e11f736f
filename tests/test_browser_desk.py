"""The chat's desk tools in a real headless Chromium (the fixtures and corpus of tests/test_browser.py):
filters beside the question and on the ledger, and the downloads (CSV and JSON Lines, read back and
compared with the API's export). Screenshots: test-artifacts/view-*.png."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from rag.export import read_csv, read_jsonl
from tests.test_browser import CHROMIUM, WAIT, WIDTHS, ask, base_url, browser, page, scroller_of, snap  # noqa: F401 - fixtures

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")


def choose(page, elem_id: str, option: str) -> None:
    """Pick ``option`` in a Gradio dropdown (multiselect or not) by its label's start."""
    box = page.locator(f"#{elem_id} input").first
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option).first.click()
    page.keyboard.press("Escape")


def cited_articles(page) -> set[str]:
    links = page.locator('#whosaid-chat a[href^="#cite/"]')
    return {unquote(links.nth(i).get_attribute("href").split("/")[1]) for i in range(links.count())}


@pytest.mark.parametrize("width", WIDTHS)
def test_a_filtered_question_answers_only_from_the_filtered_source(page, base_url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{base_url}/chat/", wait_until="load")
    choose(page, "whosaid-f-source", "Kessel Courier")
    ask(page, "Who denied what?")
    page.locator('#whosaid-chat a[href^="#cite/"]').first.wait_for(timeout=WAIT)
    page.locator("#whosaid-answer-csv").wait_for(timeout=WAIT)  # the answer is complete
    # every citation is in one of the two Kessel Courier articles, and both speakers are there
    assert cited_articles(page) == {"courier-ferry", "08b-harbour-dredging-review"}
    text = page.locator("#whosaid-chat").inner_text()
    assert "Skarn Lines" in text and "Marlow Works" in text and "Tomas Reyland" not in text
    snap(page, f"filtered-answer-{width}")
    # the same question unfiltered reaches the other outlets
    page.locator("#whosaid-f-source .token-remove, #whosaid-f-source [aria-label='Remove Kessel Courier']").first.click()
    ask(page, "Who denied what?")
    page.wait_for_function("document.querySelectorAll('#whosaid-chat a[href^=\"#cite/01-harbour\"]').length > 0", timeout=WAIT)


def test_filter_dates_and_a_bad_date(page, base_url: str) -> None:
    page.goto(f"{base_url}/chat/", wait_until="load")
    page.locator("#whosaid-f-since input, #whosaid-f-since textarea").first.fill("2026-04-03")
    page.locator("#whosaid-f-until input, #whosaid-f-until textarea").first.fill("2026-04-20")
    ask(page, "Who denied what?")
    page.locator("#whosaid-answer-csv").wait_for(timeout=WAIT)
    # 5 Apr (the bridge bulletin) and 9 Apr (the dredging review) are in; 2 Apr (the ferry) and 21 Apr
    # (the navy) are not
    assert cited_articles(page) == {"bulletin-bridge", "08b-harbour-dredging-review", "08-generals-meet-at-border-crossing"}
    page.locator("#whosaid-f-until input, #whosaid-f-until textarea").first.fill("April the fifth")
    ask(page, "Who denied what?")
    page.wait_for_function("document.querySelector('#whosaid-chat').innerText.includes('The filters could not be read')", timeout=WAIT)
    assert "until" in page.locator("#whosaid-chat").inner_text().split("The filters could not be read")[-1]


def test_answer_downloads_are_the_answer(page, base_url: str) -> None:
    page.goto(f"{base_url}/chat/", wait_until="load")
    choose(page, "whosaid-f-source", "Kessel Courier")
    ask(page, "Who denied what?")
    button = page.locator("#whosaid-answer-csv")
    button.wait_for(timeout=WAIT)
    with page.expect_download(timeout=WAIT) as got:
        button.click()
    rows = read_csv(Path(got.value.path()).read_text(encoding="utf-8"))
    assert {r["article_id"] for r in rows} == {"courier-ferry", "08b-harbour-dredging-review"}
    assert {r["source"] for r in rows} == {"Kessel Courier"} and all(r["question"] == "Who denied what?" for r in rows)
    with page.expect_download(timeout=WAIT) as got:
        page.locator("#whosaid-answer-jsonl").click()
    assert read_jsonl(Path(got.value.path()).read_text(encoding="utf-8")) == rows


@pytest.mark.parametrize("width", WIDTHS)
def test_ledger_filters_and_download_equal_the_api(page, base_url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{base_url}/chat/", wait_until="load")
    page.get_by_role("tab", name="Who said what").click()
    page.locator("#whosaid-ledger tr.claim").first.wait_for(timeout=WAIT)
    choose(page, "whosaid-l-source", "Northern Wire Service")
    page.locator("#whosaid-l-since input, #whosaid-l-since textarea").first.fill("2026-03")
    page.locator("#whosaid-ledger-show").click()
    page.wait_for_function("""() => { const metas = Array.from(document.querySelectorAll('#whosaid-ledger td.article .meta'));
        return metas.length > 0 && metas.every((m) => m.innerText.startsWith('Northern Wire Service') && / 2026/.test(m.innerText)); }""",
                           timeout=WAIT)
    shown = page.locator("#whosaid-ledger tr.claim td.content").all_inner_texts()
    with page.expect_download(timeout=WAIT) as got:
        page.locator("#whosaid-ledger-csv").click()
    rows = read_csv(Path(got.value.path()).read_text(encoding="utf-8"))
    api = page.request.get(f"{base_url}/api/claims?stance=deny&source=Northern+Wire+Service&since=2026-03&format=csv")
    assert api.ok and rows == read_csv(api.text())  # the same ledger the API exports
    assert [r["content"] for r in rows] == [s.strip() for s in shown] and rows
    assert {r["source"] for r in rows} == {"Northern Wire Service"} and all(r["published"] >= "2026-03" for r in rows)
    row = page.locator("#whosaid-ledger tr.claim").first
    row.locator("td.content").click()
    page.locator("#whosaid-ledger-article #whosaid-highlight").wait_for(timeout=WAIT)
    snap(page, f"ledger-filtered-{width}")
