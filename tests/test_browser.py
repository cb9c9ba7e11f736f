"""The chat, the side panel and the embed widget in a real headless Chromium (Debian's package,
driven by Playwright with ``executable_path``; no downloaded browser), against ``whosaid serve``
on 127.0.0.1. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

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

WAIT = 300_000  # ms: returns as soon as the condition holds; CI machines may be loaded many times over
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copytree(SAMPLES, corpus / "samples")
    (corpus / "lab-report.txt").write_text(EVIL)
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
                           "document.querySelector('#whosaid-chat').innerText.includes('The articles do not say')", timeout=WAIT)
    assert "names nothing to look for" in page.locator("#whosaid-chat").inner_text()
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
    cells = [c.strip() for c in page.locator("#whosaid-ledger").inner_text().replace("\t", "\n").splitlines()]
    assert "as written" in cells and "did not deny" in cells
    # one canonical speaker across two articles, each row with the mention as the article wrote it
    assert cells.count("Tomas Reyland") >= 3 and {"Reyland", "The minister", "Reyland, the harbour minister"} <= set(cells)
    assert {"01-harbour-minister-denies-port-sale", "14-port-lease-talks-resume"} <= set(cells)
