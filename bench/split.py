"""Sentence splitting of one long line: time per sentence must stay flat as the line grows.

pysbd alone grows with the square of a line's length (issue 11: 250 sentences 1.1 s, 2,000: 79 s,
a 512 KB one-line file unfinished after 15 minutes); whosaid splits a long line one window at a time.
Prints, for lines of N sentences, the time of ``split_sentences`` and of pysbd on the whole line
(only up to ``--pysbd-max``, it is slow), then the wall time of a whole ``whosaid ingest`` of a
512 KB file that is one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from bench._common import make_home, remove_home, table  # noqa: E402
from ingest.sentences import _segmenter, split_sentences  # noqa: E402

MADE = ["The minister said plan {i} was dead.", "Mr. Brandt, the U.S. envoy, denied report {i}.",
        "\u201cWe will not sell {i},\u201d she said.", "Prices rose {i}.5 percent on Monday!"]


def line(n: int) -> str:
    return " ".join(MADE[i % len(MADE)].format(i=i) for i in range(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="250,1000,2000,8000,32000", help="sentences per line, comma-separated")
    ap.add_argument("--pysbd-max", type=int, default=1000, help="largest line also timed with pysbd alone")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    args = ap.parse_args()

    rows = []
    for n in map(int, args.sizes.split(",")):
        text = line(n)
        t = time.perf_counter()
        found = len(split_sentences(text))
        ours = time.perf_counter() - t
        whole = "-"
        if n <= args.pysbd_max:
            t = time.perf_counter()
            _segmenter().segment(text)
            whole = f"{time.perf_counter() - t:.2f}"
        rows.append([n, len(text), found, f"{ours:.2f}", f"{ours / n * 1000:.2f}", whole])
    print(table(["sentences on one line", "chars", "sentences found", "split s", "ms / sentence", "pysbd alone s"], rows))

    home = make_home("split")
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "one-line.txt"
        body = line(20000)
        f.write_text("One line\n\n" + body[: 512 * 1024 - 12])
        exe = Path(sys.executable).with_name("whosaid")
        t = time.perf_counter()
        proc = subprocess.run([str(exe), "ingest", str(f), "--no-progress"], capture_output=True, text=True,
                              env={**os.environ, "WHOSAID_HOME": str(home)})
        took = time.perf_counter() - t
    print()
    print(table(["whole ingest of a 512 KB one-line file", "exit", "wall s", "result"],
                [["whosaid ingest", proc.returncode, f"{took:.1f}", (proc.stdout.strip() or proc.stderr.strip()).splitlines()[-1]]]))
    remove_home(home, args.keep)


if __name__ == "__main__":
    main()
