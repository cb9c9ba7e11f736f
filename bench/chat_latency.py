"""Time from pressing Enter in the chat to the first answer text on the page, and to the complete
answer (its citation links rendered), in a real headless Chromium against ``whosaid serve`` on
127.0.0.1, extractive mode, bundled sample corpus.

Goal: first text <= 0.5 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402

from bench._common import make_home, percentile, remove_home, table  # noqa: E402

QUESTIONS = [
    "Who denied what?", "Who ruled out water rationing?", "How many containers did the port handle last year?",
    "What did TNA quote?", "Who confirmed the meeting, and to whom?", "What did the court decide about charities?",
    "Who warned about the naval exercise?", "What did the interior ministry deny?",
]

# Resolves when the newest assistant message has text / has its citation links.
WAIT = """([n, what]) => {
  const bots = document.querySelectorAll('#whosaid-chat .bot, #whosaid-chat [data-testid="bot"]');
  if (bots.length < n) return false;
  const last = bots[bots.length - 1];
  if (what === 'text') return last.innerText.trim().length > 0;
  return last.querySelector('a[href^="#cite/"]') !== null || last.innerText.includes('do not say');
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=16, help="questions to time")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    args = ap.parse_args()
    if not Path("/usr/bin/chromium").exists():
        print("skipped: /usr/bin/chromium not found (apt-get install chromium)")
        return
    from playwright.sync_api import sync_playwright

    from tests.servers import CHROMIUM, CHROMIUM_ARGS, free_port, serving

    home = make_home("chat")
    env = {**os.environ, "WHOSAID_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(_ROOT / "samples" / "articles")], env=env, check=True, capture_output=True)
    port = free_port()
    command = [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--home", str(home)]
    first, full = [], []
    with serving(command, f"http://127.0.0.1:{port}/healthz", timeout=90), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/chat/", wait_until="load")
        box = page.locator("#whosaid-question textarea")
        box.wait_for(timeout=30000)
        for i in range(args.n + 2):  # two warm-up questions
            box.fill(QUESTIONS[i % len(QUESTIONS)])
            t0 = page.evaluate("performance.now()")
            box.press("Enter")
            page.wait_for_function(WAIT, arg=[i + 1, "text"], polling="raf", timeout=30000)
            t1 = page.evaluate("performance.now()")
            page.wait_for_function(WAIT, arg=[i + 1, "full"], polling="raf", timeout=30000)
            t2 = page.evaluate("performance.now()")
            if i >= 2:
                first.append(t1 - t0)
                full.append(t2 - t0)
        browser.close()
    print(f"## chat latency: {args.n} questions, extractive, sample corpus, headless Chromium\n")
    print(table(["ms from Enter", "p50", "p95", "max"], [
        ("first answer text (goal <= 500)", percentile(first, 50), percentile(first, 95), max(first)),
        ("complete answer (citations rendered)", percentile(full, 50), percentile(full, 95), max(full)),
    ]))
    remove_home(home, args.keep)


if __name__ == "__main__":
    main()
