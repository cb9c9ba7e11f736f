"""Hostile inputs for ingest, generated deterministically: random bytes, truncated UTF-8, one huge line,
deeply nested JSON, a CSV row of 10^6 columns, HTML nested 10^5 deep, NUL bytes, byte-order marks,
wrong types, odd Unicode, files over the size cap, and good articles among them (which must land)."""

from __future__ import annotations

import json
import random
from pathlib import Path

EXTENSIONS = [".txt", ".md", ".html", ".json", ".jsonl", ".csv", ".pdf", ""]
GOOD = ("The harbour minister denied that the port of {n} would be sold. The union warned of strikes at dock {n}. "
        "According to the authority, {n} ships called last year.")


def _sentences(rng: random.Random, n: int) -> str:
    words = "the minister said that port sale talks would resume on monday after the union warned of strikes".split()
    return " ".join(" ".join(rng.choice(words) for _ in range(rng.randint(5, 15))).capitalize() + "." for _ in range(n))


def generate(folder: Path, count: int, seed: int = 7, big: bool = True) -> dict[str, str]:
    """Write ``count`` inputs into ``folder``; returns {file name: kind}. ``big`` adds the few
    large cases (a 500 KB line, 10^6 CSV columns, 10^5 nested HTML elements, an oversized file)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, str] = {}

    def write(name: str, data: bytes | str, kind: str) -> None:
        path = folder / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
        kinds[name] = kind

    fixed = [
        ("good-a.txt", f"Port row\n\n{GOOD.format(n=1)}\n", "good"),
        ("good-b.jsonl", "".join(json.dumps({"id": f"g{i}", "title": f"Row {i}", "text": GOOD.format(n=i)}) + "\n" for i in range(3)), "good"),
        ("good-c.csv", "id,title,text\n" + "".join(f'c{i},Row {i},"{GOOD.format(n=i)}"\n' for i in range(3)), "good"),
        ("good-d.md", f"# Dock strike\n\n{GOOD.format(n=9)}\n", "good"),
        ("good-e.html", f"<html><head><title>Dock</title></head><body><article><p>{GOOD.format(n=5)}</p>"
                        f"<p>{_sentences(rng, 6)}</p></article></body></html>", "good"),
        ("empty.txt", "", "empty"),
        ("blank.txt", " \n\n\t\n", "empty"),
        ("nul.txt", "Title\n\nThe minister\x00 denied it.", "nul"),
        ("bom8.txt", b"\xef\xbb\xbfTitle\n\n" + GOOD.format(n=2).encode(), "bom"),
        ("bom16.txt", "Title\n\nThe minister denied it.".encode("utf-16"), "bom"),
        ("truncated.txt", ("Title\n\nThe minister said “no” to the café. " * 3).encode()[:-2], "truncated-utf8"),
        ("latin1.csv", "id,text\n1,Caf\xe9 owner denied it.\n".encode("latin-1"), "bad-encoding"),
        ("wrong-types.jsonl", "\n".join(json.dumps(r) for r in [
            {"text": 42}, {"text": ["a", "b"]}, {"text": {"x": 1}}, {"id": ["x"], "text": "The mayor said no."},
            {"title": {"a": 1}, "text": "The mayor denied it."}, [1, 2, 3], "just a string", None, {"text": ""},
            {"text": "The ministry said yes.", "published": 20260101, "source": None}]) + "\n", "wrong-types"),
        ("wrong-types.json", json.dumps({"articles": [{"text": True}, {"text": "The minister said so.", "id": 7}]}), "wrong-types"),
        ("not-json.json", "{'single': 'quotes'}", "malformed"),
        ("half.jsonl", '{"text": "The mayor said no."}\n{"text": "unterminated\n', "malformed"),
        ("header-only.csv", "id,title,text\n", "empty"),
        ("no-text-column.csv", "id,title\n1,x\n", "malformed"),
        ("odd-unicode.txt", "Title\n\n\u202eThe minister\u200b denied it.\u200d Zalgo t\u0336\u0337e\u0338xt 🚢🚢 said the union. "
                            "\U0001f600 \ud7ff \ufeff end.", "odd-unicode"),
        ("long-word.txt", "Title\n\n" + "x" * 300_000, "long-word"),
        ("only-punct.txt", "?!.,;:\n\n...!!!???", "punct"),
        ("control.txt", "Title\n\n" + "".join(chr(c) for c in range(1, 32) if c not in (10, 13)) + " The mayor said no.", "control"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "deep-json"),
        ("deep.jsonl", '{"text": ' + "[" * 50_000 + "]" * 50_000 + "}\n", "deep-json"),
        ("unknown.xyz", "The mayor said no.", "unsupported"),
        ("noext", "The mayor said no.", "unsupported"),
    ]
    if big:
        fixed += [
            ("huge-line.txt", "Title\n\n" + _sentences(rng, 8000), "huge-line"),
            ("wide.csv", "text," + ",".join(f"c{i}" for i in range(1_000_000)) + "\n" + "The mayor said no.," + ",".join("x" * 1 for _ in range(1_000_000)) + "\n", "wide-csv"),
            ("nested.html", "<html><body>" + "<div>" * 100_000 + "The mayor said no." + "</div>" * 100_000 + "</body></html>", "nested-html"),
            ("oversize.txt", "Title\n\n" + "The mayor said no. " * 1_000_000, "oversize"),  # 19 MB: over a 16 MB cap
        ]
    for name, data, kind in fixed:
        write(name, data, kind)
    n = 0
    while len(kinds) < count:
        n += 1
        ext = rng.choice(EXTENSIONS)
        kind = rng.choice(["random-bytes", "random-text", "mangled-json", "mangled-csv", "truncated"])
        if kind == "random-bytes":
            data: bytes | str = bytes(rng.randrange(256) for _ in range(rng.choice([1, 10, 300, 3000])))
        elif kind == "random-text":
            data = "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0xA0, 0x2FFF), 10, 32])) for _ in range(rng.randint(1, 800)))
        elif kind == "mangled-json":
            good = json.dumps({"id": f"m{n}", "title": "T", "text": GOOD.format(n=n)})
            cut = rng.randrange(len(good))
            data = good[:cut] + rng.choice(["", "}", "\x00", "\\", '"', "{" * 50]) + good[cut:]
            ext = rng.choice([".json", ".jsonl"])
        elif kind == "mangled-csv":
            data = "id,title,text\n" + f'{n},"T{n}","{GOOD.format(n=n)}' + rng.choice(['"', "", '""', "\n,", "\x00"]) + "\n"
            ext = ".csv"
        else:
            data = (f"Title {n}\n\n" + GOOD.format(n=n) + " Café ☕ “quoted” — dash.").encode()[: rng.randrange(5, 220)]
        write(f"fuzz-{n:05d}{ext}", data, kind)
    return kinds
