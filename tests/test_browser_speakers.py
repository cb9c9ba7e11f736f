"""The chat's speaker view in a real headless Chromium (the fixtures and corpus of tests/test_browser.py):
the collection's speakers, one speaker's timeline in date order, a row opening its sentence."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, WAIT, WIDTHS, base_url, browser, page, snap  # noqa: F401 - fixtures
from tests.test_browser_desk import choose

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
