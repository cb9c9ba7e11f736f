"""Attacks on ``whosaid serve`` in a real browser (Debian's Chromium driven by Playwright with
``executable_path``; never a downloaded browser), everything on 127.0.0.1:

1. stored XSS: articles whose titles, text, source, date and id carry markup, shown in the chat answer
   (with its citations), the side panel, the "Who said what" ledger and the embed widget on another
   loopback origin: no script runs, no dialog opens, no payload element exists in the DOM, no request
   leaves 127.0.0.1, and the payload is visible *as text* (so it was rendered, not just dropped);
2. traversal and file-route probes on every GET route (plain HTTP, raw request targets), without a
   token, with a token server and no token, and with the token: no body carries /etc/passwd, SQLite,
   the data directory, the server's working directory, its environment or its source;
3. CSP ``frame-ancestors``: a page on an allowed loopback origin frames the chat, one on another
   origin is blocked by the browser (an iframe and the ``embed.js`` widget alike);
4. ``/docs`` and ``/redoc`` render offline;
5. with ``WHOSAID_AUTH_TOKEN``: the chat is refused without the cookie and works after ``/login``.

``pytest -s`` prints ``RELIABILITY web tried=N passed=M lost=L``: every attack case tried, those that
held, and the rest (``lost = tried - passed``; a lost case is also a failing test)."""

from __future__ import annotations

import functools
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import pytest

from tests import test_browser
from tests.reliability.test_web import every_route
from tests.servers import CHROMIUM, free_port, serving

# the browser fixtures of the chat's own browser tests: one Chromium per module; ``page`` records every
# request and dialog, and fails at teardown if a request left 127.0.0.1
browser, page, ask = test_browser.browser, test_browser.page, test_browser.ask
#: The browser tests skip without Debian's Chromium; the HTTP probes (part 2) run anyway.
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (.ci/run installs it)")

REPO = Path(__file__).resolve().parents[2]
TOKEN = "browser-attack-token-9f3c"
WAIT = 300_000  # ms: generous (returns as soon as the condition holds); CI machines may be loaded many times over

# ---------------------------------------------------------------- the tally printed with -s

TALLY = {"tried": 0, "passed": 0}


@contextmanager
def case() -> Iterator[None]:
    """One attack case: counted as tried, and as passed only if its checks hold."""
    TALLY["tried"] += 1
    yield
    TALLY["passed"] += 1


@pytest.fixture(scope="module", autouse=True)
def _summary() -> Iterator[None]:
    yield
    print(f"\nRELIABILITY web tried={TALLY['tried']} passed={TALLY['passed']} lost={TALLY['tried'] - TALLY['passed']}")


# ---------------------------------------------------------------- the hostile corpus

QUOTE_ID = 'xss-quote"><img src=x onerror=alert(12)>'  # the article id itself carries markup
ARTICLES = [
    {"id": "xss-script", "title": "Quillmark <script>window.__xss=1</script> lab report ![x](//evil.example/t.png)",
     "source": '<img src=x onerror="window.__xss=10">', "published": "<script>window.__xss=11</script>",
     "text": 'The Quillmark lab <script>window.__xss=1</script> denied that <img src=x onerror="window.__xss=2"> samples were lost. '
             "Its director signed the Quillmark log on Monday."},
    {"id": "xss-svg", "title": '<svg onload="window.__xss=3">Zephyrine ferry</svg>',
     "text": 'The Zephyrine ferry operator said <svg/onload=window.__xss=3> the crossing would reopen '
             '"><iframe src="javascript:window.__xss=4"></iframe> next week. The pier stays closed until then.'},
    {"id": "xss-links", "title": '[Orvane minutes](javascript:window.__xss=5) <a href="javascript:window.__xss=6">council</a>',
     "text": 'The Orvane council denied that [the minutes](javascript:window.__xss=5) and <a href="javascript:window.__xss=6">the vote</a> '
             "were forged. A photo ![x](//evil.example/a.png) showed the vote."},
    {"id": QUOTE_ID, "title": 'Brandt <b onmouseover="window.__xss=7">statement</b> <img src=x onerror=alert(13)>',
     "text": '“<b onmouseover="window.__xss=7">We deny it</b>,” said <img src=x onerror="window.__xss=8"> Brandt. '
             'Kellerman Brandt denied that the <img src=x onerror="window.__xss=9"> Tessaly depot was closed.'},
]
BY_ID = {a["id"]: a for a in ARTICLES}

#: Markup from the corpus that must be on screen, as text, in the chat after the two questions below.
CHAT_SHOWS = [
    "The Quillmark lab <script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2"> samples were lost',
    '<img src=x onerror="window.__xss=9"> Tessaly depot',
    "[the minutes](javascript:window.__xss=5)",
    '<a href="javascript:window.__xss=6">the vote</a>',
    '<svg/onload=window.__xss=3> the crossing would reopen "><iframe src="javascript:window.__xss=4"></iframe>',
    BY_ID["xss-script"]["title"],  # titles in the sources under the answer (with the markdown image)
    BY_ID["xss-svg"]["title"],
    BY_ID["xss-links"]["title"],
    BY_ID[QUOTE_ID]["title"],
]
#: ... and in the ledger ("Who said what", stance any): speaker, mention, content, article title and source.
LEDGER_SHOWS = [
    "The Quillmark lab <script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=8"> Brandt',
    '<b onmouseover="window.__xss=7">We deny it</b>',
    'that the <img src=x onerror="window.__xss=9"> Tessaly depot was closed',
    "<svg/onload=window.__xss=3> the crossing would reopen",
    BY_ID[QUOTE_ID]["title"],
    BY_ID["xss-script"]["title"],
    BY_ID["xss-script"]["source"],
]

#: Every element or attribute the corpus could create if it were parsed as HTML or Markdown; runs in
#: each frame and returns what it found (an empty list when the page is clean).
AUDIT_JS = r"""() => {
  const found = [];
  const urlish = new Set(["src", "href", "data", "action", "formaction", "xlink:href", "poster", "background"]);
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      const tag = el.tagName.toLowerCase();
      for (const a of Array.from(el.attributes)) {
        const n = a.name.toLowerCase(), v = a.value;
        if (n.startsWith("on")) found.push(`<${tag} ${n}="${v}">`);
        else if (n === "srcdoc") found.push(`<${tag} srcdoc>`);
        else if (urlish.has(n) && (/^\s*javascript:/i.test(v) || /evil\.example|__xss/.test(v))) found.push(`<${tag} ${n}="${v}">`);
      }
      if (tag === "script" && /__xss|alert\(/.test(el.textContent)) found.push("<script>" + el.textContent.slice(0, 80));
      if (tag === "img" && /(^|\/)x$/.test(el.getAttribute("src") || "")) found.push(`<img src="${el.getAttribute("src")}">`);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return found;
}"""


# ---------------------------------------------------------------- servers on 127.0.0.1

class _Pages(BaseHTTPRequestHandler):
    """Tiny "intranet" pages on a loopback origin; ``self.server.pages`` maps path -> HTML."""

    def do_GET(self) -> None:
        body = self.server.pages.get(self.path.split("?")[0])  # type: ignore[attr-defined]
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def intranet(port: int) -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Pages)
    httpd.pages = {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Whosaid:
    base: str
    port: int
    home: Path
    cwd: Path
    token: str = ""
    secrets: dict[str, bytes] = field(default_factory=dict)  # name -> bytes that must never be served


@dataclass
class Stage:
    open: Whosaid  # no token; WHOSAID_ALLOWED_ORIGINS = the allowed origin
    token: Whosaid  # WHOSAID_AUTH_TOKEN set
    allowed: str  # http://127.0.0.1:PORT, on the allow-list
    other: str  # http://127.0.0.1:PORT, not on it
    pages: dict[str, dict[str, str]]  # origin -> path -> HTML


def _start(stack: ExitStack, home: Path, cwd: Path, env: dict[str, str], name: str) -> tuple[str, int]:
    port = free_port()
    # ``env -C`` gives the server its own working directory (with a secret in it) and exactly these
    # settings, whatever the environment of the test run says.
    command = ["env", "-C", str(cwd), "-u", "WHOSAID_AUTH_TOKEN", "-u", "WHOSAID_ALLOWED_ORIGINS", "-u", "WHOSAID_ROOT_PATH",
               *(f"{k}={v}" for k, v in env.items()),
               sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(home)]
    stack.enter_context(serving(command, f"http://127.0.0.1:{port}/healthz", name=name))
    return f"http://127.0.0.1:{port}", port


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "payloads.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ARTICLES))
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    r = subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(corpus), "--no-progress"], env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0 and f"added {len(ARTICLES)}," in r.stdout, r.stdout + r.stderr[-2000:]
    token_home = tmp_path_factory.mktemp("token") / "home"
    shutil.copytree(home, token_home)
    with ExitStack() as stack:
        allowed_port, other_port = free_port(), free_port()
        while other_port == allowed_port:
            other_port = free_port()
        allowed, other = f"http://127.0.0.1:{allowed_port}", f"http://127.0.0.1:{other_port}"
        pages = {allowed: stack.enter_context(intranet(allowed_port)).pages,  # type: ignore[attr-defined]
                 other: stack.enter_context(intranet(other_port)).pages}  # type: ignore[attr-defined]
        servers = []
        for label, h, extra in (("open", home, {"WHOSAID_ALLOWED_ORIGINS": allowed}), ("token", token_home, {"WHOSAID_AUTH_TOKEN": TOKEN})):
            cwd = tmp_path_factory.mktemp(f"cwd-{label}")
            secrets = {"home file": f"HOME-SECRET-{label}-5c1e".encode(), "working-directory file": f"CWD-SECRET-{label}-77aa".encode(),
                       "environment": f"ENV-SECRET-{label}-0b9d".encode()}
            (h / "secret-home.txt").write_bytes(secrets["home file"])
            (cwd / "secret-cwd.txt").write_bytes(secrets["working-directory file"])
            base, port = _start(stack, h, cwd, {**extra, "PROBE_ENV_SECRET": secrets["environment"].decode()}, f"whosaid serve ({label})")
            servers.append(Whosaid(base, port, h, cwd, extra.get("WHOSAID_AUTH_TOKEN", ""), secrets))
        for origin, served in pages.items():
            w = servers[0].base
            served["/frame.html"] = (f'<!doctype html><html><head><meta charset="utf-8"><title>intranet {origin}</title></head><body>'
                                     f'<h1>Intranet page</h1><iframe id="whosaid" src="{w}/chat/" style="width:1100px;height:700px"></iframe>'
                                     "</body></html>")
            served["/widget.html"] = (f'<!doctype html><html><head><meta charset="utf-8"><title>intranet {origin}</title></head><body>'
                                      f'<h1>Intranet widget</h1><script src="{w}/embed.js" data-height="700"></script></body></html>')
        yield Stage(servers[0], servers[1], allowed, other, pages)


# ---------------------------------------------------------------- browser helpers

def loopback_only(page) -> None:
    hosts = {urlparse(u).hostname for u in page.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts <= {"127.0.0.1"}, f"requests left loopback: {sorted(h or '?' for h in hosts)}"


def scripts_ran(page) -> list:
    """window.__xss in every frame that has a document of its own, and every dialog that opened."""
    ran = []
    for frame in page.frames:
        if frame.url.startswith("chrome-error:"):
            continue
        value = frame.evaluate("() => window.__xss")
        if value is not None:
            ran.append((frame.url, value))
    return ran + [("dialog", d) for d in page.dialogs]


def audit(page) -> list[str]:
    return [f"{f.url}: {x}" for f in page.frames if not f.url.startswith("chrome-error:") for x in f.evaluate(AUDIT_JS)]


def no_attack_worked(page) -> None:
    """The stored payloads did nothing: no script, no dialog, no payload element, no foreign request."""
    page.wait_for_timeout(300)  # lets an onerror from a broken image fire, if one were there (not a timing assertion)
    with case():
        assert scripts_ran(page) == []
    with case():
        assert audit(page) == []
    with case():
        loopback_only(page)


def wait_for_text(target, selector: str, texts: list[str], timeout: int = WAIT) -> None:
    """Wait until the element's innerText contains every one of ``texts``."""
    target.locator(selector).first.wait_for(timeout=timeout)
    deadline = time.monotonic() + timeout / 1000
    while True:
        shown = target.locator(selector).first.inner_text()
        missing = [s for s in texts if s not in shown]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not shown as text in {selector}: {missing}\n--- shown ---\n{shown[-3000:]}")
        time.sleep(0.2)


def hover_everything(target, selector: str) -> None:
    """The mouse over the block, and mouseover/focus on each element in it: an onmouseover or onfocus
    handler from the payload, had it been rendered, fires."""
    block = target.locator(selector).first
    block.hover(timeout=WAIT)
    block.evaluate("""(root) => { for (const el of [root, ...root.querySelectorAll("*")]) {
        for (const type of ["mouseover", "mouseenter", "focus"]) el.dispatchEvent(new Event(type, {bubbles: type === "mouseover"}));
    } }""")


def ask_and_cite(target) -> list[str]:
    """Ask the two questions whose answers quote every payload article; returns the citation hrefs."""
    ask(target, "Who denied what?")
    wait_for_text(target, "#whosaid-chat", [BY_ID[QUOTE_ID]["title"], BY_ID["xss-script"]["title"], "Tessaly depot"])
    ask(target, "What did the Zephyrine ferry operator say?")
    wait_for_text(target, "#whosaid-chat", CHAT_SHOWS)
    links = target.locator('#whosaid-chat a[href^="#cite/"]')
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    return list(dict.fromkeys(hrefs))


def check_side_panel(page, target, hrefs: list[str]) -> set[str]:
    """Click one citation link per article: nothing from the article runs (checked first), and the
    panel shows its title, source, date, text and highlighted sentence as text. Returns the ids shown."""
    seen: set[str] = set()
    for href in hrefs:
        _, quoted_id, start, end = href.split("/")
        article_id = unquote(quoted_id)
        if article_id in seen:
            continue
        seen.add(article_id)
        article, sentence = BY_ID[article_id], BY_ID[article_id]["text"][int(start):int(end)]
        target.locator(f'#whosaid-chat a[href="{href}"]').first.click()
        wait_for_text(target, "#whosaid-highlight", [sentence.strip()], timeout=WAIT)
        hover_everything(target, "#whosaid-article")
        no_attack_worked(page)
        with case():
            panel = target.locator("#whosaid-article")
            assert panel.locator("h3").inner_text() == article["title"]
            assert target.locator("#whosaid-highlight").inner_text().strip() == sentence.strip()
            assert panel.locator(".text").inner_text().strip() == article["text"].strip()  # the whole article, as text
            for key in ("source", "published"):
                if article.get(key):
                    assert article[key] in panel.locator(".meta").inner_text()
    return seen


# ---------------------------------------------------------------- 1. stored XSS

@needs_chromium
def test_stored_xss_in_chat_answer_and_side_panel(page, stage: Stage) -> None:
    with case():  # the answers and their sources show every payload as text
        page.goto(f"{stage.open.base}/chat/", wait_until="load")
        hrefs = ask_and_cite(page)
        assert len(hrefs) >= 4
    hover_everything(page, "#whosaid-chat")
    no_attack_worked(page)
    with case():  # every payload article opened in the side panel
        assert check_side_panel(page, page, hrefs) == set(BY_ID)


@needs_chromium
def test_stored_xss_in_the_claims_ledger(page, stage: Stage) -> None:
    with case():  # speakers, mentions, contents and article ids with markup, as text in the ledger
        page.goto(f"{stage.open.base}/chat/", wait_until="load")
        page.get_by_role("tab", name="Who said what").click()
        page.locator("#whosaid-stance input").first.click()
        page.get_by_role("option", name="any", exact=True).click()
        page.locator("#whosaid-ledger-show").click()
        wait_for_text(page, "#whosaid-ledger", LEDGER_SHOWS)
    hover_everything(page, "#whosaid-ledger")
    no_attack_worked(page)


@needs_chromium
def test_stored_xss_in_the_embed_widget_on_another_origin(page, stage: Stage) -> None:
    with case():  # the widget (embed.js on an allowed loopback origin) answers, payloads as text
        page.goto(f"{stage.allowed}/widget.html", wait_until="load")
        page.locator("iframe.whosaid-embed").wait_for(timeout=WAIT)
        frame = page.frame_locator("iframe.whosaid-embed")
        hrefs = ask_and_cite(frame)
        assert len(hrefs) >= 4
    hover_everything(frame, "#whosaid-chat")
    no_attack_worked(page)
    with case():
        assert len(check_side_panel(page, frame, hrefs)) >= 2


# ---------------------------------------------------------------- 2. traversal and file routes

#: Ways to say "somewhere else" in a path segment or a parameter.
TRAVERSALS = [
    "../../../../../../../../etc/passwd",
    "..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "..%252f..%252f..%252f..%252f..%252f..%252f..%252f..%252fetc%252fpasswd",
    "..%5c..%5c..%5c..%5c..%5c..%5c..%5c..%5cetc%5cpasswd",
    "..\\..\\..\\..\\..\\..\\..\\..\\etc\\passwd",
    "....//....//....//....//....//....//etc/passwd",
    "..%c0%af..%c0%af..%c0%af..%c0%af..%c0%afetc%c0%afpasswd",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "//etc/passwd",
    "/etc/passwd%00.png",
    "file:///etc/passwd",
    "/proc/self/environ",
    "/proc/self/cwd/secret-cwd.txt",
    "secret-cwd.txt",
    "./secret-cwd.txt",
    "{cwd}/secret-cwd.txt",
    "{home}/secret-home.txt",
    "{home}/catalogue.sqlite3",
    "{home}/chroma/chroma.sqlite3",
    "{home_rel}/catalogue.sqlite3",
    "{repo}/ui/server.py",
    "{repo}/pyproject.toml",
]
#: The file routes, named as a prober would try them (and as the brief lists them).
NAMED = [
    "/chat/file=/etc/passwd", "/chat/file=../../../../etc/passwd", "/chat/gradio_api/file=/etc/passwd",
    "/chat/gradio_api/file=../../../../etc/passwd", "/chat/gradio_api/file=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/chat/gradio_api/file=..%2f..%2f..%2f..%2fetc%2fpasswd", "/chat/static/../../etc/passwd", "/chat/static/../../../../../../etc/passwd",
    "/chat/assets/..%2f..%2f/etc/passwd", "/chat/assets/../../../../../../etc/passwd", "/api/articles/..%2f..%2fetc%2fpasswd",
    "/api/articles/../../etc/passwd", "/static-offline-docs/../../../../../../etc/passwd",
    "/static-offline-docs/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", "/chat/gradio_api/file={home}/catalogue.sqlite3",
    "/chat/file={home}/catalogue.sqlite3", "/chat/gradio_api/file/{home}/catalogue.sqlite3", "/chat/gradio_api/file/etc/passwd",
    "/chat/gradio_api/file//etc/passwd", "/%63hat/gradio_api/file=/etc/passwd", "/chat/gradio_api/%66ile=/etc/passwd",
    "/CHAT/gradio_api/file=/etc/passwd", "/healthz/../chat/gradio_api/file=/etc/passwd", "/healthz/..%2fchat/gradio_api/file=/etc/passwd",
    "/embed.js/../chat/gradio_api/file=/etc/passwd", "//chat/gradio_api/file=/etc/passwd", "/chat//gradio_api/file=/etc/passwd",
    "/chat/gradio_api/file=/etc/passwd?x=1", "/login?token=x&next=../../etc/passwd", "/login?token=x&next=//evil.example/",
    "/api/claims?collection=../../../../etc", "/api/articles/x?collection=..%2f..%2f..%2fetc", "/api/claims?article=../../etc/passwd",
    "/chat/gradio_api/proxy=file:///etc/passwd", "/chat/proxy=file:///etc/passwd",
]
#: ... and in the query parameters a route might read.
QUERY = "?file={t}&path={t}&url={t}&name={t}&collection={t}&article={t}&next={t}"
QUERY_TRAVERSALS = ["../../../../../../../../etc/passwd", "/etc/passwd", "file:///etc/passwd", "/proc/self/environ", "secret-cwd.txt",
                    "{cwd}/secret-cwd.txt", "{home}/catalogue.sqlite3", "{repo}/ui/server.py"]
LEAK_MARKERS = {"/etc/passwd": b"root:x:0:0", "an SQLite file": b"SQLite format 3", "the server's source": b"def create_app(",
                "pyproject.toml": b"[build-system]"}


def _fill(t: str, w: Whosaid) -> str:
    return (t.replace("{cwd}", str(w.cwd)).replace("{home}", str(w.home)).replace("{repo}", str(REPO))
            .replace("{home_rel}", "../" * 12 + str(w.home).lstrip("/")))


@functools.cache
def get_routes(home: Path) -> list[str]:
    """Every GET route of the app ``whosaid serve`` runs (the API, the docs, the widget, the chat)."""
    from rag.settings import Settings
    from ui.server import create_app

    routes = sorted({p for m, p in every_route(create_app(Settings(home=home))) if m == "GET"})
    assert len(routes) > 40 and "/chat/gradio_api/file=x" in routes  # the route list is the real one
    return routes


def probes(w: Whosaid) -> list[str]:
    """Raw request targets: the named ones, then every GET route of the app with each traversal in
    each parameter segment (or after the route, when it has none), and in the usual query parameters."""
    targets = [_fill(t, w) for t in NAMED]
    routes = get_routes(w.home)
    for route in routes:
        segments = route.split("/")
        holes = [i for i, s in enumerate(segments) if s == "x" or s.endswith("=x")]
        for t in TRAVERSALS:
            t = _fill(t, w)
            for i in holes or [None]:
                if i is None:
                    targets.append(route.rstrip("/") + "/" + t.lstrip("/"))
                else:
                    s = segments[:]
                    s[i] = s[i][:-1] + t if s[i].endswith("=x") else t
                    targets.append("/".join(s))
        for t in QUERY_TRAVERSALS:
            targets.append(route + QUERY.format(t=quote(_fill(t, w), safe="")))
    return list(dict.fromkeys(t if t.isascii() else quote(t, safe="/%=?&:\\") for t in targets))


def fetch(port: int, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """GET a raw request target (no client-side normalisation of dot segments); streams are read
    for a moment, bodies up to 4 MB."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        body = b""
        conn.sock.settimeout(1 if "event-stream" in (r.getheader("content-type") or "") else 600)
        deadline = time.monotonic() + 10
        while len(body) < 4 << 20 and time.monotonic() < deadline:
            try:
                chunk = r.read1(65536)
            except TimeoutError:
                break
            except http.client.IncompleteRead as e:  # the server ended a stream early: what came is what counts
                body += e.partial
                break
            if not chunk:
                break
            body += chunk
        return r.status, body
    finally:
        conn.close()


def test_the_leak_markers_are_real(stage: Stage) -> None:
    """The probes look for these bytes; they would be found if the files were served."""
    with case():
        assert b"root:x:0:0" in Path("/etc/passwd").read_bytes()
        assert (stage.open.home / "catalogue.sqlite3").read_bytes().startswith(b"SQLite format 3")
        assert b"def create_app(" in (REPO / "ui" / "server.py").read_bytes()
        assert b"[build-system]" in (REPO / "pyproject.toml").read_bytes()
        assert stage.open.secrets["working-directory file"] in (stage.open.cwd / "secret-cwd.txt").read_bytes()


@pytest.mark.parametrize("who", ["open server", "token server, no token", "token server, with the token"])
def test_traversal_and_file_routes_serve_nothing_from_outside(stage: Stage, who: str) -> None:
    w = stage.open if who == "open server" else stage.token
    headers = {"Host": f"127.0.0.1:{w.port}"}
    if who.endswith("with the token"):
        headers["Authorization"] = f"Bearer {TOKEN}"
    targets = probes(w)
    markers = {**LEAK_MARKERS, **w.secrets}
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda t: (t, *fetch(w.port, t, headers)), targets))
    leaks = []
    for target, status, body in results:  # one case per probe; every leak is collected before failing
        TALLY["tried"] += 1
        found = [name for name, marker in markers.items() if marker in body]
        if found:
            leaks.append((target, status, found, body[:200]))
        else:
            TALLY["passed"] += 1
    assert leaks == [], f"{len(leaks)} of {len(targets)} probes read a file: {leaks[:10]}"
    # the setting is the one meant: without the token the token server refuses, with it it answers
    status, _ = fetch(w.port, "/api/claims", headers)
    assert status == (401 if who == "token server, no token" else 200)


# ---------------------------------------------------------------- 3. frame-ancestors

def _child(page):
    deadline = time.monotonic() + WAIT / 1000
    while not page.main_frame.child_frames:
        assert time.monotonic() < deadline, "the page never made its iframe"
        page.wait_for_timeout(100)
    return page.main_frame.child_frames[0]


def _chat_loaded(frame) -> bool:
    try:
        return not frame.url.startswith("chrome-error:") and frame.locator("#whosaid-question textarea").count() > 0
    except Exception:  # noqa: BLE001 - a frame in the middle of a navigation
        return False


@needs_chromium
@pytest.mark.parametrize("how", ["iframe", "embed.js"])
@pytest.mark.parametrize("which", ["allowed origin", "other origin"])
def test_frame_ancestors_is_honoured(page, stage: Stage, which: str, how: str) -> None:
    origin = stage.allowed if which == "allowed origin" else stage.other
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    csp_refusal = lambda: [m for m in console if "frame-ancestors" in m]  # Chromium's own message
    with case():
        response = page.goto(f"{origin}/{'frame' if how == 'iframe' else 'widget'}.html", wait_until="load")
        assert response.ok
        frame = _child(page)
        if which == "allowed origin":
            page.frame_locator("iframe").locator("#whosaid-question textarea").wait_for(timeout=WAIT)
            page.frame_locator("iframe").locator("#whosaid-question textarea").fill("Who denied what?")
            assert frame.url.startswith(stage.open.base + "/chat") and csp_refusal() == []
        else:
            deadline = time.monotonic() + WAIT / 1000
            # the blocked frame ends on Chromium's error page; if framing were allowed, the chat shows up instead
            while not frame.url.startswith("chrome-error:"):
                assert not _chat_loaded(frame), f"{origin} framed the chat although it is not in WHOSAID_ALLOWED_ORIGINS"
                assert time.monotonic() < deadline, f"the frame neither loaded nor was blocked: {frame.url}"
                page.wait_for_timeout(200)
            assert not _chat_loaded(frame)
            while not csp_refusal():  # and it was CSP frame-ancestors that blocked it, not a failed load
                assert time.monotonic() < deadline, f"blocked, but not by frame-ancestors: {console}"
                page.wait_for_timeout(200)
            assert "blocked" in csp_refusal()[0]
            assert page.locator("h1").inner_text().startswith("Intranet")  # the embedding page itself still works
    loopback_only(page)


# ---------------------------------------------------------------- 4. offline docs

@needs_chromium
@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_render_offline(page, stage: Stage, path: str) -> None:
    with case():
        page.goto(f"{stage.open.base}{path}", wait_until="load")
        wait_for_text(page, "body", ["/api/ask", "/api/claims", "/api/articles/"])
        if path == "/docs":
            assert page.locator(".opblock-summary-path", has_text="/api/ask").count() >= 1
    with case():
        page.wait_for_load_state("networkidle", timeout=WAIT)
        loopback_only(page)
        assert scripts_ran(page) == []


# ---------------------------------------------------------------- 5. the token and the login cookie

@needs_chromium
def test_token_chat_refused_without_cookie_and_works_after_login(page, stage: Stage) -> None:
    base = stage.token.base
    with case():  # no cookie: no chat
        r = page.goto(f"{base}/chat/", wait_until="load")
        assert r.status == 401 and page.locator("#whosaid-question").count() == 0
        assert page.request.get(f"{base}/chat/config").status == 401
    with case():  # a wrong token sets nothing
        r = page.goto(f"{base}/login?token=wrong-{TOKEN}", wait_until="load")
        assert r.status == 401 and page.context.cookies() == []
    with case():  # /login sets an HTTP-only cookie and lands on the chat, which answers with a citation
        page.goto(f"{base}/login?token={TOKEN}", wait_until="load")
        assert urlparse(page.url).path.startswith("/chat")
        cookie = [c for c in page.context.cookies() if c["name"] == "whosaid_token"]
        assert cookie and cookie[0]["httpOnly"] and TOKEN not in page.evaluate("document.cookie")
        ask(page, "What did the Zephyrine ferry operator say?")
        link = page.locator('#whosaid-chat a[href^="#cite/xss-svg/"]').first
        link.wait_for(timeout=WAIT)
        wait_for_text(page, "#whosaid-chat", [BY_ID["xss-svg"]["title"]])
        link.click()  # the side panel fetches the article with the cookie
        page.locator("#whosaid-highlight").wait_for(timeout=WAIT)
        assert "Zephyrine ferry operator" in page.locator("#whosaid-highlight").inner_text()
    with case():  # the cookie gone, the chat is refused again
        page.context.clear_cookies()
        r = page.goto(f"{base}/chat/", wait_until="load")
        assert r.status == 401 and page.locator("#whosaid-question").count() == 0
    no_attack_worked(page)
