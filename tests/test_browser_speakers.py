"""The chat's speaker view in a real headless Chromium (the fixtures and corpus of tests/test_browser.py):
the collection's speakers, one speaker's timeline in date order, a row opening its sentence, and (over
samples/desk) a cross-article link opening the sentence it answers."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.servers import free_port, serving
from tests.test_browser import CHROMIUM, WAIT, WIDTHS, base_url, browser, page, snap  # noqa: F401 - fixtures
from tests.test_browser_desk import choose

DESK = Path(__file__).resolve().parents[1] / "samples" / "desk"
pytest.importorskip("rag.attribution.timeline", reason="the speaker view needs the links branch (rag/attribution/timeline.py)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")


@pytest.mark.parametrize("width", WIDTHS)
def test_speaker_view_shows_a_timeline_that_opens_the_article(page, base_url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{base_url}/chat/", wait_until="load")
    page.get_by_role("tab", name="Speakers").click()
    page.locator("#whosaid-speakers table").wait_for(timeout=WAIT)
    assert "Tomas Reyland" in page.locator("#whosaid-speakers").inner_text()
    choose(page, "whosaid-speaker-pick", "Tomas Reyland")
    rows = page.locator("#whosaid-timeline tr.claim")
    rows.first.wait_for(timeout=WAIT)
    days = [datetime.strptime(d, "%d %b %Y") for d in page.locator("#whosaid-timeline td.date").all_inner_texts()]
    assert days == sorted(days) and days[0] == datetime(2026, 3, 3) and len(days) >= 4  # in date order
    assert "Northern Wire Service" in page.locator("#whosaid-timeline td.article").first.inner_text()
    rows.filter(has_text="that the port is for sale").first.locator("td.content").click()
    mark = page.locator("#whosaid-timeline-article #whosaid-highlight")
    mark.wait_for(timeout=WAIT)
    assert "port is for sale" in mark.inner_text()
    snap(page, f"speaker-timeline-{width}")


@pytest.fixture(scope="module")
def desk_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """whosaid serve over samples/desk: one story told by five outlets, with cross-article links."""
    home = tmp_path_factory.mktemp("desk-home")
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(DESK), "--no-progress"], env=env, check=True, capture_output=True)
    port = free_port()
    command = [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(home)]
    with serving(command, f"http://127.0.0.1:{port}/healthz", name="whosaid serve (desk)"):
        yield f"http://127.0.0.1:{port}"


def test_a_timeline_link_opens_the_sentence_it_answers(page, desk_url: str) -> None:
    page.goto(f"{desk_url}/chat/", wait_until="load")
    page.get_by_role("tab", name="Speakers").click()
    page.locator("#whosaid-speakers table").wait_for(timeout=WAIT)
    choose(page, "whosaid-speaker-pick", "Tomas Reyland")
    page.locator("#whosaid-timeline tr.claim").first.wait_for(timeout=WAIT)
    # his denial of 8 Apr answers the Valdoria Ledger's report of 7 Apr: the link names it, and opens its sentence
    row = page.locator("#whosaid-timeline tr.claim", has_text="overpaid").first
    link = row.locator("td.links .link.denies a").first
    assert "denies →" in row.locator("td.links").inner_text() and "Valdoria Ledger" in row.locator("td.links").inner_text()
    href = link.get_attribute("href")
    _, article_id, start, end = href.split("/")
    assert article_id == "01-ledger-audit-finds-dredging-contract-overpriced"
    link.click()
    mark = page.locator("#whosaid-timeline-article #whosaid-highlight")
    mark.wait_for(timeout=WAIT)
    article = page.request.get(f"{desk_url}/api/articles/{article_id}").json()
    assert mark.inner_text().strip() == article["text"][int(start):int(end)].strip()
    assert "confidential draft audit" in mark.inner_text()
    snap(page, "speaker-links-1280")
