"""Scale: ingest throughput, retrieval / answer latency, peak RSS and disk at 10^4 .. 10^6 sentences.

For each mode (``embedded``: SQLite + embedded Chroma; ``server``: PostgreSQL + ``chroma run``, both
started on 127.0.0.1 by :mod:`deploy.stack`) the archive grows through ``--sizes`` (sentences) and at
each size the script measures:

* ingest: every real ingest step (``ingest.pipeline.ingest`` on a JSONL file of about
  ``--step-sentences`` sentences, the embedder and claim extractor loaded once) gives sentences/s
  against the archive size at its start; then a *probe* ingest of the same 16 articles (fresh
  variants) through the same pipeline gives ms per article at that archive size, with the time of
  the full reconcile (``Store.reconcile``) shown apart. A flat probe means no O(archive) step per
  ingest; the reconcile reads the whole archive, and an ingest runs it only when the catalogue's
  "vectors may disagree" mark is set (after a killed run, or once after the migration to schema 5),
  so its column is 0 otherwise.
* query, in a separate process that only opens the store and answers (so its peak RSS is a query
  process's, read with ``getrusage`` maxrss): after 3 warm-up asks, ``HybridSearch.candidates``
  over ``--questions`` title questions ("What happened: <FA-KES title>?"), then ``Engine.ask``
  (extractive) over the same questions, the naive pipeline's query on the same index (embed the
  question, the 4 nearest chunks by Chroma, their text: what a LangChain retriever over Chroma does)
  over them too, then over 24 attribution questions ("Who denied ...?",
  "What did SANA report?": answered from the claims ledger). p50 / p95 of each.
* disk: ``du`` of the data directory (embedded); ``pg_database_size`` plus ``du`` of the Chroma
  server's directory (server).
* growth exponent of every figure: the slope of log(figure) against log(sentences) between
  consecutive sizes (1 = linear in the archive, 0 = flat).

Corpus. FA-KES (``../shared/data/news/fakes_syria_articles.jsonl``, else the original
``FA-KES-Dataset.csv`` beside it: 792 distinct ids, 9,682 sentences). Variant 0 is the corpus as is;
variant ``v >= 1`` of an article has id ``<id>-v<v>``, title ``<title> (edition <v>)`` and its text
(and title) rewritten by deterministic word substitutions seeded by ``v``: a permutation of 21
Syrian place names (Aleppo, Idlib, Homs, ...), a permutation of 14 foreign leaders' and ministers'
surnames (Putin, Erdogan, Lavrov, ...), and every stand-alone number of 1-3 digits (not part of a
decimal, time or year) shifted by a seeded 1..9. So every variant's text differs wherever such a
word occurs, and its id, title, content hash and chunk ids always differ. Articles are taken variant
by variant (all of variant 0, then variant 1, ...) until the archive holds the size asked.

Extension beyond ``--real-upto`` (default 10^5 sentences): embedding 10^6 sentences for real would
take hours here, so past that size articles are written straight through the store's write path
(``Store.write_many`` with ``ArticleWrite``), not embedded: text = the variant substitution applied
to the stored variant-0 text, sentences = the stored variant-0 sentence spans mapped through the
substitution (no re-splitting), chunks made by ``ingest.chunking.make_chunks``, sentence and chunk
vectors = those of a *really embedded* variant of the same article (variants cycled) plus seeded
Gaussian noise (``--noise``, per dimension, default 0.01: cosine ~0.98 to the source), renormalised;
claims = the variant-0 article's claims with article id, sentence ids and spans remapped (speaker
fields copied as they are). Their write rate is reported apart ("ext", no embedding, splitting or
claim extraction in it).

Server mode need not embed the same 10^5 sentences a second time: with ``--copy-from
DIR/embedded/home --real-upto 1e4`` it ingests the first 10^4 for real, then copies the very rows
and vectors the embedded run's real ingest stored (same articles, same order) through
``Store.write_many`` up to ``--copy-upto`` ("copy" steps), then extends as above. Its probes are real
ingests, so ingest cost per article at every size is measured in both modes.

    python bench/scale.py --sizes 1e4,1e5,1e6 --modes embedded,server --questions 60 --keep /tmp/scale

Writes ``bench/results/scale.json`` (merged per mode with earlier runs) and PNG plots
``bench/results/scale_latency.png``, ``scale_resources.png``, ``scale_ingest.png``.

Goals: retrieval p95 <= 50 ms at 10^5 and <= 100 ms at 10^6 sentences; peak RSS of a query process
<= 2 GiB at 10^6; ingest cost per article flat as the archive grows.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import bisect  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from itertools import pairwise  # noqa: E402

from bench._common import CORPUS, percentile, table  # noqa: E402

RESULTS = _ROOT / "bench" / "results"
CSV_CORPUS = CORPUS.parent / "FA-KES-Dataset.csv"
SEED = 20240611
PROBE_ARTICLES = 16

PLACES = ["Aleppo", "Idlib", "Homs", "Hama", "Damascus", "Raqqa", "Daraa", "Latakia", "Tartus", "Palmyra", "Qamishli",
          "Manbij", "Afrin", "Douma", "Kobani", "Hasakah", "Jableh", "Azaz", "Qusayr", "Zabadani", "Quneitra"]
NAMES = ["Putin", "Erdogan", "Trump", "Obama", "Rouhani", "Macron", "Merkel",
         "Lavrov", "Kerry", "Tillerson", "Cavusoglu", "Zarif", "Mattis", "Muallem"]
_TOKENS = re.compile(r"\b(?P<word>" + "|".join(PLACES + NAMES) + r")\b|(?<![\d.,:/])\b(?P<num>\d{1,3})\b(?![.,:/]?\d)")

TITLE_Q = "What happened: {}?"
ATTRIBUTION = [
    # bench/query.py's twelve
    "Who denied the attack?", "What did SANA report?", "Who confirmed the death toll?", "Who denied using chemical weapons?",
    "What did the Russian Defence Ministry say?", "Who claimed responsibility for the bombing?",
    "What did the Syrian Observatory for Human Rights report?", "Who accused the Syrian government of the chemical attack?",
    "What did the White House say about the missile strike?", "Who said civilians were killed in the air strikes?",
    "Who rejected the accusations?", "What did the Turkish foreign ministry say?",
    # twelve more on the corpus's subjects
    "What did Russia deny?", "Who denied targeting civilians?", "Who confirmed the strike on Idlib?", "What did the Syrian army say?",
    "Who accused Russia of bombing hospitals?", "What did the Pentagon say?", "Who denied the reports of civilian casualties?",
    "What did the Observatory say about Aleppo?", "Who said the rebels used chemical weapons?", "What did the United Nations say?",
    "Who confirmed the ceasefire?", "What did Turkey deny?",
]
WARMUP = ["Who denied the report?", "What did the UN say?", "How many people were killed in Aleppo?"]


# --- small helpers -------------------------------------------------------------------------------------------


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _du(path: Path) -> int:
    """Bytes on disk under ``path`` (allocated blocks, like du)."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


def _proc_status(pid: int, key: str) -> float | None:
    """A ``/proc/<pid>/status`` memory figure (VmRSS, VmHWM) in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _proc_cpu(pid: int, children_too: bool = True) -> float:
    """CPU seconds of a process (and of the children it has reaped, and of its live children)."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p: int) -> list[str] | None:
        try:
            raw = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            return None
        return raw[raw.rindex(")") + 2 :].split()

    s = stat(pid)
    if s is None:
        return 0.0
    total = sum(int(x) for x in s[11:15])  # utime stime cutime cstime
    if children_too:
        for d in Path("/proc").iterdir():
            if d.name.isdigit() and (c := stat(int(d.name))) is not None and c[1] == str(pid):
                total += int(c[11]) + int(c[12])
    return total / tick


def code_state() -> dict:
    """Which code measured: HEAD and a hash of the working tree's rag/ and ingest/ sources (others edit them meanwhile)."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted([*(_ROOT / "rag").rglob("*.py"), *(_ROOT / "ingest").rglob("*.py")]):
        h.update(str(path.relative_to(_ROOT)).encode() + b"\0" + path.read_bytes())
    head = subprocess.run(["git", "-C", str(_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return {"head": head.stdout.strip(), "rag_ingest_sha": h.hexdigest()[:12]}


def _slope(x1: float, y1: float, x2: float, y2: float) -> float:
    if min(x1, x2, y1, y2) <= 0 or x1 == x2:
        return float("nan")
    return math.log(y2 / y1) / math.log(x2 / x1)


def _parse_sizes(text: str) -> list[int]:
    return sorted({int(float(s)) for s in text.split(",") if s.strip()})


def _fmt_size(n: float) -> str:
    e = math.log10(n) if n > 0 else 0
    return f"1e{round(e)}" if abs(e - round(e)) < 0.01 else f"{n:.0e}".replace("e+0", "e").replace("e+", "e")


# --- corpus and variants -------------------------------------------------------------------------------------


def read_fakes() -> list[dict]:
    """FA-KES records ``{id, title, text, publisher, date}``, first occurrence of each id, in file order."""
    records: list[dict] = []
    if CORPUS.exists():
        with CORPUS.open(encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    elif CSV_CORPUS.exists():
        csv.field_size_limit(1 << 30)
        with CSV_CORPUS.open(encoding="utf-8", errors="replace", newline="") as f:
            records = [{"id": r["unit_id"], "title": r["article_title"], "text": r["article_content"], "publisher": r["source"],
                        "date": r["date"]} for r in csv.DictReader(f)]
    else:
        print(f"skipped: neither {CORPUS} nor {CSV_CORPUS} found")
        raise SystemExit(0)
    seen: set[str] = set()
    out = []
    for r in records:
        rid = str(r.get("id") or "").strip()
        if rid and rid not in seen and str(r.get("text") or "").strip():
            seen.add(rid)
            out.append({k: r.get(k, "") for k in ("id", "title", "text", "publisher", "date")})
    return out


@dataclass
class Varied:
    text: str
    olds: list[int]  # end offsets of the replaced tokens in the old text
    starts: list[int]  # their start offsets
    deltas: list[int]  # cumulative length change after each replacement

    def map(self, offset: int) -> int:
        """An offset of the old text in the new one (exact at token boundaries)."""
        k = bisect.bisect_right(self.olds, offset)
        shift = self.deltas[k - 1] if k else 0
        if k < len(self.starts) and self.starts[k] < offset:  # inside a replaced token: keep to its start
            return offset + shift - (offset - self.starts[k])
        return offset + shift


def vary(text: str, v: int) -> Varied:
    """Variant ``v`` of a text: seeded permutations of places and names, numbers shifted (v=0: unchanged)."""
    if v == 0:
        return Varied(text, [], [], [])
    rng = random.Random(f"{SEED}:{v}")
    places, names = PLACES[:], NAMES[:]
    rng.shuffle(places)
    rng.shuffle(names)
    swap = dict(zip(PLACES, places)) | dict(zip(NAMES, names))
    shift = rng.randint(1, 9)
    parts, olds, starts, deltas, pos, delta = [], [], [], [], 0, 0
    for m in _TOKENS.finditer(text):
        new = swap[m["word"]] if m["word"] else str(int(m["num"]) + shift)
        if new == m.group(0):
            continue
        parts.append(text[pos : m.start()])
        parts.append(new)
        pos = m.end()
        delta += len(new) - len(m.group(0))
        olds.append(m.end())
        starts.append(m.start())
        deltas.append(delta)
    parts.append(text[pos:])
    return Varied("".join(parts), olds, starts, deltas)


def variant_id(base: str, v: int) -> str:
    return base if v == 0 else f"{base}-v{v}"


def variant_title(title: str, v: int) -> str:
    return title if v == 0 else f"{vary(title, v).text.strip()} (edition {v})"


def variant_record(r: dict, v: int) -> dict:
    return {**r, "id": variant_id(r["id"], v), "title": variant_title(r["title"], v), "text": vary(r["text"], v).text}


def sentence_counts(records: list[dict], cache: Path | None) -> list[int]:
    """Sentences per original article (for planning sizes), cached beside a kept corpus."""
    if cache and cache.exists():
        data = json.loads(cache.read_text())
        if data.get("ids") == [r["id"] for r in records]:
            return data["counts"]
    from ingest.loaders import record_to_article
    from ingest.sentences import split_sentences

    counts = []
    for r in records:
        loaded = record_to_article(r, Path("fakes"), None)
        counts.append(len(split_sentences(loaded.article.text)))
    if cache:
        cache.write_text(json.dumps({"ids": [r["id"] for r in records], "counts": counts}))
    return counts


# --- modes --------------------------------------------------------------------------------------------------


class Mode:
    """Where one mode's archive lives; servers started on demand."""

    def __init__(self, name: str, root: Path) -> None:
        self.name, self.root = name, root
        self.home = root / "home"
        self.inputs = root / "inputs"
        self.home.mkdir(parents=True, exist_ok=True)
        self.inputs.mkdir(parents=True, exist_ok=True)
        self.pg = self.chroma = None

    def start(self) -> None:
        for k in ("WHOSAID_CATALOGUE_URL", "WHOSAID_CHROMA__HOST", "WHOSAID_CHROMA__PORT"):
            os.environ.pop(k, None)
        os.environ["WHOSAID_HOME"] = str(self.home)
        if self.name == "server":
            from deploy.stack import start_chroma, start_postgres

            for d in (self.root, self.root.parent):
                os.chmod(d, 0o755)  # PostgreSQL runs as 'postgres' when we are root: it must reach its directory
            t = time.perf_counter()
            self.pg = start_postgres(self.root / "pg")
            self.chroma = start_chroma(self.root / "chroma-server")
            print(f"[{self.name}] started {self.pg} and {self.chroma} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            os.environ["WHOSAID_CATALOGUE_URL"] = self.pg.url
            os.environ["WHOSAID_CHROMA__HOST"] = self.chroma.host
            os.environ["WHOSAID_CHROMA__PORT"] = str(self.chroma.port)

    def stop(self) -> None:
        for server in (self.chroma, self.pg):
            if server is not None:
                try:
                    server.stop()
                except Exception as e:  # noqa: BLE001 - report, keep stopping the other
                    print(f"[{self.name}] stopping {server}: {e}", file=sys.stderr)
        self.pg = self.chroma = None

    def settings(self):
        from rag.settings import Settings

        return Settings(home=self.home)

    def server_cpu(self) -> float:
        if self.name != "server":
            return 0.0
        return _proc_cpu(self.pg.pid) + _proc_cpu(self.chroma.pid)

    def disk(self) -> dict[str, float]:
        mib = 1024 * 1024
        if self.name == "embedded":
            cat = sum(_du(p) if p.is_dir() else (p.stat().st_blocks * 512) for p in self.home.glob("catalogue.sqlite3*"))
            vec = _du(self.home / "chroma")
            return {"catalogue_mb": cat / mib, "vectors_mb": vec / mib, "total_mb": _du(self.home) / mib}
        from deploy.stack import PG_DATABASE, PG_USER

        out = subprocess.run(
            [str(self.pg.bindir / "psql"), "-h", self.pg.host, "-p", str(self.pg.port), "-U", PG_USER, "-d", PG_DATABASE, "-tAc",
             f"SELECT pg_database_size('{PG_DATABASE}')"], capture_output=True, text=True, timeout=120, check=False)
        cat = int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip().isdigit() else 0
        if not cat:
            print(f"[server] pg_database_size failed: {out.stderr.strip()}", file=sys.stderr)
        vec = _du(self.chroma.path)
        return {"catalogue_mb": cat / mib, "vectors_mb": vec / mib, "total_mb": (cat + vec + _du(self.home)) / mib}

    def server_rss(self) -> dict[str, float | None]:
        if self.name != "server":
            return {}
        return {"chroma_server_rss_mb": _proc_status(self.chroma.pid, "VmRSS"),
                "chroma_server_hwm_mb": _proc_status(self.chroma.pid, "VmHWM")}


# --- building the archive ------------------------------------------------------------------------------------


class Builder:
    """Grows one mode's archive along the plan: real ingest up to ``real_upto``, extension beyond."""

    def __init__(self, mode: Mode, records: list[dict], counts: list[int], args, state: dict) -> None:
        self.mode, self.records, self.counts, self.args, self.state = mode, records, counts, args, state
        self._store = self._embedder = self._extractor = None
        self._sources: dict[int, dict] | None = None

    # the plan: (variant, article index) in order; state["pos"] items of it are stored
    def item(self, pos: int) -> tuple[int, int]:
        return divmod(pos, len(self.records))

    @property
    def store(self):
        if self._store is None:
            from ingest.pipeline import make_extractor
            from rag.embeddings import MiniLMOnnxEmbedder
            from rag.store import Store

            settings = self.mode.settings()
            t = time.perf_counter()
            self._embedder = self._embedder or MiniLMOnnxEmbedder(settings.embedder)
            self._embedder.embed(["warm up the model"])
            self._store = Store(settings, self._embedder)
            _ = self._store.vectors
            if self._extractor is None:
                from rag.types import Sentence

                self._extractor = make_extractor(self._store)
                text = "The ministry denied the report."
                self._extractor.extract("warm", [Sentence(article_id="warm", index=0, text=text, start=0, end=len(text))], text)
            print(f"[{self.mode.name}] model, store and claim extractor ready in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if getattr(self, "_src", None) is not None:
            self._src.close()
            self._src = None

    def sentences(self) -> int:
        return self.store.catalogue.counts(self.store.space)["sentences"]

    def grow_to(self, target: int) -> None:
        a = self.args
        while True:
            have = self.state.get("sentences", 0)
            if have >= target:
                return
            if have < a.real_upto:
                kind, limit, step = "real", min(target, a.real_upto), a.step_sentences
            elif a.copy_from and have < a.copy_upto and not self.state.get("copy_done"):
                kind, limit, step = "copy", min(target, a.copy_upto), a.ext_step_sentences
            else:
                kind, limit, step = "ext", target, a.ext_step_sentences
            # items until this step's sentence budget (and the size) is reached, by the originals' counts
            pos, budget = self.state.get("pos", 0), min(step, limit - have)
            items, planned = [], 0
            while planned < budget:
                v, i = self.item(pos + len(items))
                if kind == "copy" and not self._in_source(v, i):
                    break  # copy no further than the source's articles; extension takes over
                items.append((v, i))
                planned += self.counts[i]
            if not items:
                self.state["copy_done"] = True
                continue
            {"real": self._ingest_step, "copy": self._copy_step, "ext": self._extend_step}[kind](items)

    def _record(self, kind: str, n_items: int, before: int, wall: float, cpu: float, server_cpu: float, extra: dict) -> None:
        after = self.sentences()
        self.state["pos"] = self.state.get("pos", 0) + n_items
        self.state["sentences"] = after
        step = {"kind": kind, "articles": n_items, "archive_before": before, "sentences": after - before, "wall_s": wall,
                "cpu_s": cpu, "server_cpu_s": server_cpu, "sentences_per_s": (after - before) / wall if wall else None,
                "ms_per_article": 1000 * wall / n_items if n_items else None, "load": os.getloadavg()[0], **extra}
        self.state.setdefault("steps", []).append(step)
        _save_state(self.mode, self.state)
        print(f"[{self.mode.name}] {kind:5} {before:>9,} -> {after:>9,} sentences: {n_items} articles, {wall:7.1f} s wall, "
              f"{cpu:7.1f} s CPU (+{server_cpu:.1f} server), {step['sentences_per_s']:.0f} sentences/s, load {step['load']:.1f}"
              + "".join(f", {k} {v:.2f}" for k, v in extra.items() if isinstance(v, float)), file=sys.stderr)

    def _run_ingest(self, records: list[dict], name: str) -> tuple[float, float, float, dict]:
        from ingest.pipeline import ingest

        path = self.mode.inputs / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        store = self.store
        spent = {"reconcile_s": 0.0}
        original = store.reconcile

        def timed_reconcile():
            t = time.perf_counter()
            try:
                return original()
            finally:
                spent["reconcile_s"] += time.perf_counter() - t

        store.reconcile = timed_reconcile
        s0 = self.mode.server_cpu()
        t, c = time.perf_counter(), _cpu()
        try:
            report = ingest([path], store, progress=False, extractor=self._extractor)
        finally:
            del store.reconcile
        wall, cpu = time.perf_counter() - t, _cpu() - c
        if report.failed:
            print(f"[{self.mode.name}] {len(report.failed)} failed: {report.failed[0].error}", file=sys.stderr)
        spent["failed"] = len(report.failed)
        return wall, cpu, self.mode.server_cpu() - s0, spent

    def _ingest_step(self, items: list[tuple[int, int]]) -> None:
        before = self.sentences()
        records = [variant_record(self.records[i], v) for v, i in items]
        wall, cpu, scpu, extra = self._run_ingest(records, f"step-{self.state.get('pos', 0):07d}")
        self._record("real", len(items), before, wall, cpu, scpu, extra)

    def probe(self, target: int, tag: str = "") -> dict:
        """Ingest the same 16 originals as fresh variants; cost per article at this archive size. A
        ``tag`` makes them new again (another variant, other ids) for a probe of the same archive."""
        rng = random.Random(SEED)
        picks = rng.sample(range(len(self.records)), PROBE_ARTICLES)
        v = 100_000 + (target + int(hashlib.sha256(tag.encode()).hexdigest()[:6], 16) * bool(tag)) % 99_991
        records = [{**variant_record(self.records[i], v), "id": f"probe{target}{tag}-{self.records[i]['id']}"} for i in picks]
        before = self.sentences()
        wall, cpu, scpu, extra = self._run_ingest(records, f"probe-{target}{tag}")
        after = self.sentences()
        self.state["sentences"] = after
        _save_state(self.mode, self.state)
        out = {"archive_before": before, "articles": len(records), "sentences": after - before, "wall_s": wall, "cpu_s": cpu,
               "server_cpu_s": scpu, "ms_per_article": 1000 * wall / len(records),
               "ms_per_article_without_reconcile": 1000 * (wall - extra["reconcile_s"]) / len(records), **extra}
        print(f"[{self.mode.name}] probe at {before:,} sentences: {out['ms_per_article']:.0f} ms/article "
              f"(reconcile {extra['reconcile_s'] * 1000:.0f} ms), CPU {cpu:.1f} s", file=sys.stderr)
        return out

    # -- extension: no embedding --------------------------------------------------------------------------------
    def _load_sources(self) -> dict[int, dict]:
        """Per original article: its stored variant-0 text, sentences and claims, and the vectors of
        every really ingested variant of it (sentence vectors from the catalogue, chunk vectors from
        the vector store) whose sentences line up with variant 0's."""
        import numpy as np

        store = self.store
        cat, space, dim = store.catalogue, store.space, store.embedder.dim
        real_pos = self.state.get("real_pos", self.state.get("pos", 0))
        t = time.perf_counter()
        sources: dict[int, dict] = {}
        wanted: dict[str, tuple[int, int, int]] = {}  # chunk id -> (article index, variant, first)
        for pos in range(real_pos):
            v, i = self.item(pos)
            aid = variant_id(self.records[i]["id"], v)
            if v == 0:
                article = cat.article(space, aid)
                if article is None:
                    continue
                sources[i] = {"article": article, "sentences": cat.sentences(space, aid),
                              "claims": cat.claims(space, article_id=aid), "vecs": {}}
            src = sources.get(i)
            if src is None:
                continue
            rows = cat.window_sentences(space, [(aid, 0, 1 << 30)], dim)
            if len(rows) != len(src["sentences"]):
                continue
            src["vecs"][v] = {"sentences": np.stack([r[3] for r in rows]).astype(np.float32), "chunks": {}}
            for c in cat.chunks(space, cat.chunk_ids(space, aid)):
                wanted[c.id] = (i, v, c.first)
        ids = list(wanted)
        coll = store.vectors._collection  # a benchmark reading back stored vectors
        for b in range(0, len(ids), 2000):
            got = coll.get(ids=ids[b : b + 2000], include=["embeddings"])
            for cid, vec in zip(got["ids"], got["embeddings"]):
                i, v, first = wanted[cid]
                sources[i]["vecs"][v]["chunks"][first] = np.asarray(vec, dtype=np.float32)
        for src in sources.values():
            for v in list(src["vecs"]):
                if not src["vecs"][v]["chunks"]:
                    del src["vecs"][v]
            src["firsts"] = {v: sorted(d["chunks"]) for v, d in src["vecs"].items()}
        n_vecs = sum(len(s["vecs"]) for s in sources.values())
        print(f"[{self.mode.name}] extension sources: {len(sources)} articles, {n_vecs} embedded versions, "
              f"{len(ids):,} chunk vectors, read in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        return sources

    def _synthetic(self, v: int, i: int, src: dict):
        import numpy as np

        from ingest.chunking import make_chunks
        from ingest.pipeline import article_version
        from rag.store import ArticleWrite
        from rag.types import Article, Claim, Sentence

        a0 = src["article"]
        varied = vary(a0.text, v)
        aid = variant_id(a0.id, v)
        article = Article(id=aid, title=variant_title(a0.title, v), source=a0.source, url=a0.url, published=a0.published,
                          text=varied.text)
        sentences = []
        for s in src["sentences"]:
            start, end = varied.map(s.start), varied.map(s.end)
            sentences.append(Sentence(article_id=aid, index=s.index, text=varied.text[start:end], start=start, end=end))
        chunks = [c for c, _ in make_chunks(aid, article.title, sentences, self.store.settings.chunking)]
        choices = sorted(src["vecs"])
        r = choices[v % len(choices)]
        vecs, firsts = src["vecs"][r], src["firsts"][r]
        rng = np.random.default_rng([SEED, v, i])

        def noisy(m: np.ndarray) -> np.ndarray:
            m = m + rng.normal(0.0, self.args.noise, m.shape).astype(np.float32)
            return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)

        chunk_src = np.stack([vecs["chunks"][firsts[max(0, bisect.bisect_right(firsts, c.first) - 1)]] for c in chunks])

        def span(s):
            return None if s is None else (varied.map(s[0]), varied.map(s[1]))

        claims = []
        for c in src["claims"]:
            cs = span(c.content_span)
            claims.append(Claim(**{
                **c.model_dump(), "article_id": aid, "sentence_ids": [f"{aid}:{x}" for x in c.sentence_indexes],
                "cue_span": span(c.cue_span), "speaker_span": span(c.speaker_span), "content_span": cs,
                "content": varied.text[cs[0] : cs[1]] if cs else vary(c.content, v).text,
            }))
        return ArticleWrite(article=article, version=article_version(article, self._extractor.version), origin="scale:synthetic",
                            sentences=sentences, chunks=chunks, chunk_vecs=noisy(chunk_src), sentence_vecs=noisy(vecs["sentences"]),
                            claims=claims)

    # -- copy: the very rows and vectors another mode's real ingest stored -------------------------------------
    def _source_store(self):
        """The embedded archive named by ``--copy-from`` (a home directory), opened read-only in spirit."""
        if getattr(self, "_src", None) is None:
            from rag.settings import ChromaSettings, Settings
            from rag.store import Store

            settings = Settings(home=self.args.copy_from, catalogue_url="", chroma=ChromaSettings(host=""))
            self._src = Store(settings, self.store.embedder)
            if self._src.space != self.store.space:
                raise RuntimeError(f"--copy-from holds space {self._src.space}, this store {self.store.space}")
        return self._src

    def _in_source(self, v: int, i: int) -> bool:
        src = self._source_store()
        return src.catalogue.version(src.space, variant_id(self.records[i]["id"], v)) is not None

    def _write_step(self, kind: str, items: list[tuple[int, int]], make) -> None:
        """Write ``items`` straight through ``Store.write_many`` in batches of 64, ``make(v, i)`` giving each
        article's ``ArticleWrite`` (or ``None`` to skip it), and record the step (with the time spent making them)."""
        store = self.store
        before = self.sentences()
        s0 = self.mode.server_cpu()
        t, c = time.perf_counter(), _cpu()
        skipped, make_s = 0, 0.0
        with store.writing():
            for b in range(0, len(items), 64):
                tm = time.perf_counter()
                writes = [w for w in (make(v, i) for v, i in items[b : b + 64]) if w is not None]
                skipped += len(items[b : b + 64]) - len(writes)
                make_s += time.perf_counter() - tm
                errors = [e for e in store.write_many(writes) if e is not None]
                if errors:
                    raise RuntimeError(f"{kind} write failed: {errors[0]}")
        wall, cpu = time.perf_counter() - t, _cpu() - c
        if kind == "copy" and skipped:
            raise RuntimeError(f"--copy-from lacks {skipped} of the planned articles: copy only up to its real size (--copy-upto)")
        self._record(kind, len(items), before, wall, cpu, self.mode.server_cpu() - s0,
                     {"read_source_s": make_s} if kind == "copy" else {"make_articles_s": make_s, "skipped": skipped})

    def _copy_step(self, items: list[tuple[int, int]]) -> None:
        import numpy as np

        from rag.store import ArticleWrite

        src = self._source_store()
        cat, space, dim = src.catalogue, src.space, src.embedder.dim
        coll = src.vectors._collection  # a benchmark reading back stored vectors
        versions = cat.versions(space)

        def copy(v: int, i: int):
            aid = variant_id(self.records[i]["id"], v)
            article = cat.article(space, aid)
            if article is None:
                return None
            rows = cat.window_sentences(space, [(aid, 0, 1 << 30)], dim)
            chunks = cat.chunks(space, cat.chunk_ids(space, aid))
            got = coll.get(ids=[ch.id for ch in chunks], include=["embeddings"])
            by_id = dict(zip(got["ids"], got["embeddings"]))
            return ArticleWrite(
                article=article, version=versions[aid], origin="scale:copy", sentences=[r[0] for r in rows], chunks=chunks,
                chunk_vecs=np.stack([np.asarray(by_id[ch.id], dtype=np.float32) for ch in chunks]),
                sentence_vecs=np.stack([r[3] for r in rows]), claims=cat.claims(space, article_id=aid))

        self._write_step("copy", items, copy)

    def _extend_step(self, items: list[tuple[int, int]]) -> None:
        if self._sources is None:
            self.state.setdefault("real_pos", self.state.get("pos", 0))
            self._sources = self._load_sources()

        def synthetic(v: int, i: int):
            src = self._sources.get(i)
            return self._synthetic(v, i, src) if src is not None and src["vecs"] else None

        self._write_step("ext", items, synthetic)


def _state_path(mode: Mode) -> Path:
    return mode.root / "build.json"


def _load_state(mode: Mode) -> dict:
    p = _state_path(mode)
    return json.loads(p.read_text()) if p.exists() else {}


def _save_state(mode: Mode, state: dict) -> None:
    p = _state_path(mode)
    p.with_suffix(".tmp").write_text(json.dumps(state, indent=1))
    p.with_suffix(".tmp").replace(p)


# --- the query process ---------------------------------------------------------------------------------------


def worker(spec_path: Path) -> int:
    """Open the store, answer, print JSON: run in its own process so its peak RSS is a query process's."""
    spec = json.loads(spec_path.read_text())
    t0, c0 = time.perf_counter(), _cpu()
    load_start = os.getloadavg()[0]
    code = code_state()
    # Peak RSS is VmHWM of this process's own memory map: getrusage's ru_maxrss survives exec on Linux,
    # so in a child it starts at the parent's peak (the builder's, with its model and Chroma index).
    rss_start = _proc_status(os.getpid(), "VmHWM")
    from rag.embeddings import MiniLMOnnxEmbedder
    from rag.engine import Engine
    from rag.settings import Settings
    from rag.store import Store

    settings = Settings()
    store = Store(settings, MiniLMOnnxEmbedder(settings.embedder))
    engine = Engine(store)
    counts = store.catalogue.counts(store.space)
    rss_open = _proc_status(os.getpid(), "VmHWM")
    t = time.perf_counter()
    engine.ask(WARMUP[0])  # loads the model, opens Chroma (loading its index), first catalogue reads
    first_ms = (time.perf_counter() - t) * 1000
    open_s = time.perf_counter() - t0
    for q in WARMUP[1:]:
        engine.ask(q)
    rss_warm = _proc_status(os.getpid(), "VmHWM")

    def timed(fn, qs):
        """Wall ms per question, CPU ms per question (the whole process: onnxruntime's threads too), steps' ms."""
        out, cpu, parts = [], [], {}
        for q in qs:
            tm: dict[str, float] = {}
            t, c = time.perf_counter(), time.process_time()
            fn(q, tm)
            out.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            for k, v in tm.items():
                parts.setdefault(k, []).append(v)
        parts["cpu"] = cpu
        return out, parts

    qs, aq = spec["questions"], spec["attribution"]
    retrieval, rparts = timed(lambda q, tm: engine.search.candidates(q, timings=tm), qs)
    # the naive pipeline's query on the same index: embed the question, the 4 nearest chunks, their text
    naive, qparts = timed(lambda q, tm: store.catalogue.chunks(store.space, [i for i, _ in store.nearest(store.embedder.embed_query(q), 4)]), qs)
    answers, nparts = timed(lambda q, tm: tm.update(engine.ask(q).timings), qs)
    abstained = 0
    ledger = [engine.attribution.parse(q) is not None for q in aq]

    def attribution(q, tm):
        nonlocal abstained
        a = engine.ask(q)
        abstained += a.abstained
        tm.update(a.timings)

    attrib, aparts = timed(attribution, aq)
    store.close()
    r = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "counts": counts, "open_s": open_s, "first_ask_ms": first_ms, "retrieval_ms": retrieval, "answer_ms": answers, "naive_ms": naive,
        "naive_parts_p50": {"cpu": percentile(qparts["cpu"], 50)}, "naive_parts_p95": {"cpu": percentile(qparts["cpu"], 95)},
        "attribution_ms": attrib, "attribution_via_ledger": sum(ledger), "attribution_abstained": abstained,
        "retrieval_parts_p50": {k: percentile(v, 50) for k, v in rparts.items()},
        "retrieval_parts_p95": {k: percentile(v, 95) for k, v in rparts.items()},
        "answer_parts_p50": {k: percentile(v, 50) for k, v in nparts.items()},
        "answer_parts_p95": {k: percentile(v, 95) for k, v in nparts.items()},
        "attribution_parts_p50": {k: percentile(v, 50) for k, v in aparts.items()},
        "attribution_parts_p95": {k: percentile(v, 95) for k, v in aparts.items()},
        "peak_rss_mb": _proc_status(os.getpid(), "VmHWM"), "rss_now_mb": _proc_status(os.getpid(), "VmRSS"),
        "rss_after_open_mb": rss_open, "rss_after_warmup_mb": rss_warm, "rss_at_start_mb": rss_start,
        "ru_maxrss_mb": r.ru_maxrss / 1024,
        "cpu_s": _cpu() - c0, "wall_s": time.perf_counter() - t0, "load_start": load_start, "load_end": os.getloadavg()[0],
        "code": code,
    }))
    return 0


def measure_queries(mode: Mode, questions: list[str]) -> dict:
    spec = mode.root / "questions.json"
    spec.write_text(json.dumps({"questions": questions, "attribution": ATTRIBUTION}))
    s0 = mode.server_cpu()
    t = time.perf_counter()
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_worker", str(spec)], capture_output=True, text=True,
                         env=os.environ.copy(), timeout=7200, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"query process failed (rc {out.returncode}):\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = time.perf_counter() - t
    res["server_cpu_s"] = mode.server_cpu() - s0
    for key in ("retrieval", "answer", "attribution", "naive"):
        if f"{key}_ms" not in res:  # figures of a run before the naive query was timed
            continue
        xs = res[f"{key}_ms"]
        res[f"{key}_p50"], res[f"{key}_p95"], res[f"{key}_max"] = percentile(xs, 50), percentile(xs, 95), max(xs)
        res[f"{key}_cpu_p50"], res[f"{key}_cpu_p95"] = res[f"{key}_parts_p50"]["cpu"], res[f"{key}_parts_p95"]["cpu"]
    res.update(mode.server_rss())
    return res


# --- reporting -----------------------------------------------------------------------------------------------

FIGURES = [  # (key in a size's record, label)
    ("retrieval_p50", "retrieval p50 ms"), ("retrieval_p95", "retrieval p95 ms"),
    ("retrieval_cpu_p50", "retrieval CPU p50 ms"), ("retrieval_cpu_p95", "retrieval CPU p95 ms"),
    ("naive_p50", "naive top-4 query p50 ms"), ("naive_p95", "naive top-4 query p95 ms"),
    ("answer_p50", "answer p50 ms"), ("answer_p95", "answer p95 ms"),
    ("attribution_p50", "attribution p50 ms"), ("attribution_p95", "attribution p95 ms"),
    ("first_ask_ms", "first ask (cold) ms"), ("peak_rss_mb", "query peak RSS MiB"), ("total_mb", "disk MiB"),
    ("probe_ms_per_article", "probe ingest ms/article"), ("probe_reconcile_ms", "probe reconcile ms"),
    ("step_sentences_per_s", "step ingest sentences/s"),
]


def _flat(rec: dict) -> dict:
    q, p, d = rec["query"], rec["probe"], rec["disk"]
    out = {k: q.get(k) for k in ("retrieval_p50", "retrieval_p95", "answer_p50", "answer_p95", "attribution_p50",
                                 "attribution_p95", "first_ask_ms", "peak_rss_mb", "naive_p50", "naive_p95", "chroma_server_rss_mb", "retrieval_cpu_p50",
                                 "retrieval_cpu_p95", "answer_cpu_p50", "answer_cpu_p95", "attribution_cpu_p50", "attribution_cpu_p95")}
    out.update(total_mb=d["total_mb"], catalogue_mb=d["catalogue_mb"], vectors_mb=d["vectors_mb"],
               probe_ms_per_article=p["ms_per_article"], probe_reconcile_ms=1000 * p["reconcile_s"],
               step_sentences_per_s=rec.get("step_sentences_per_s"), step_kind=rec.get("step_kind"), sentences=q["counts"]["sentences"])
    return out


def report(results: dict) -> None:
    for mode, data in results.items():
        sizes = data.get("sizes", [])
        if not sizes:
            continue
        print(f"\n## {mode}: {sizes[0]['query']['counts']['articles']:,} .. {sizes[-1]['query']['counts']['articles']:,} articles\n")
        rows = []
        for rec in sizes:
            f, q, p = _flat(rec), rec["query"], rec["probe"]
            rows.append((
                _fmt_size(rec["target"]), q["counts"]["sentences"], q["counts"]["chunks"], rec["build"],
                f"{f['retrieval_p50']:.0f} / {f['retrieval_p95']:.0f}", f"{f['answer_p50']:.0f} / {f['answer_p95']:.0f}",
                f"{f['attribution_p50']:.0f} / {f['attribution_p95']:.0f}",
                f"{f['naive_p50']:.0f} / {f['naive_p95']:.0f}" if f.get("naive_p50") is not None else "-",
                "/".join(f"{f[k]:.0f}" if f.get(k) is not None else "-" for k in ("retrieval_cpu_p50", "retrieval_cpu_p95", "answer_cpu_p50",
                                                                                  "answer_cpu_p95", "attribution_cpu_p50", "attribution_cpu_p95")),
                f"{q['first_ask_ms']:.0f}",
                f"{q['peak_rss_mb']:.0f}" + (f" (+{q['chroma_server_rss_mb']:.0f} chroma)" if q.get("chroma_server_rss_mb") else ""),
                f"{f['catalogue_mb']:.0f} + {f['vectors_mb']:.0f}",
                "-" if f["step_sentences_per_s"] is None else f"{f['step_sentences_per_s']:.0f} ({rec['step_kind']})",
                f"{p['ms_per_article']:.0f} / {1000 * p['cpu_s'] / p['articles']:.0f} ({1000 * p['reconcile_s']:.0f})",
            ))
        print(table(["size", "sentences", "chunks", "built", "retrieval p50/p95 ms", "answer p50/p95 ms", "attribution p50/p95 ms",
                     "naive top-4 p50/p95 ms", "CPU ms p50/p95 ret/ans/attr", "cold ask ms", "query RSS MiB", "disk MiB cat+vec", "ingest s/s (steps)",
                     "probe wall / CPU ms/article (reconcile ms)"], rows))
        if len(sizes) > 1:
            print(f"\n### {mode}: growth exponents (d log figure / d log sentences)\n")
            flats = [_flat(r) for r in sizes]
            heads = [f"{_fmt_size(a['target'])}->{_fmt_size(b['target'])}" for a, b in pairwise(sizes)]
            erows = []
            for key, label in FIGURES:
                vals = [_slope(a["sentences"], a[key] or 0, b["sentences"], b[key] or 0)
                        if a.get(key) and b.get(key) and (key != "step_sentences_per_s" or a["step_kind"] == b["step_kind"]) else float("nan")
                        for a, b in pairwise(flats)]
                erows.append((label, *(f"{v:+.2f}" for v in vals)))
            print(table(["figure", *heads], erows))
        steps = data.get("steps", [])
        if steps:
            print(f"\n### {mode}: ingest steps (wall / CPU seconds; server CPU in server mode)\n")
            print(table(["kind", "archive before", "articles", "sentences", "wall s", "CPU s", "server CPU s", "sentences/s", "ms/article",
                         "CPU ms/article", "reconcile ms", "load"],
                        [(s["kind"], s["archive_before"], s["articles"], s["sentences"], s["wall_s"], s["cpu_s"], s["server_cpu_s"],
                          s["sentences_per_s"], s["ms_per_article"], 1000 * s["cpu_s"] / s["articles"], 1000 * s.get("reconcile_s", 0.0),
                          s["load"]) for s in steps]))
        print(f"\n{mode}: goals: retrieval p95 <= 50 ms at 1e5, <= 100 ms at 1e6; query peak RSS <= 2048 MiB at 1e6; probe flat.")
        for rec in sizes:
            f = _flat(rec)
            if rec["target"] == 100_000:
                print(f"  1e5 retrieval p95 {f['retrieval_p95']:.0f} ms: {'met' if f['retrieval_p95'] <= 50 else 'MISSED'}")
            if rec["target"] == 1_000_000:
                print(f"  1e6 retrieval p95 {f['retrieval_p95']:.0f} ms: {'met' if f['retrieval_p95'] <= 100 else 'MISSED'}")
                print(f"  1e6 query peak RSS {f['peak_rss_mb']:.0f} MiB: {'met' if f['peak_rss_mb'] <= 2048 else 'MISSED'}")


def plots(results: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(parents=True, exist_ok=True)
    styles = {"embedded": "-", "server": "--"}
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), sharey=True)
    for ax, suffix, what in ((axes[0], "", "wall ms per question (warm)"), (axes[1], "_cpu", "CPU ms per question (process, all threads)")):
        for mode, data in results.items():
            flats = [_flat(r) for r in data.get("sizes", [])]
            if not flats:
                continue
            x = [f["sentences"] for f in flats]
            for key, label, color in (("retrieval", "retrieval", "C0"), ("answer", "full answer", "C1"), ("attribution", "attribution", "C2"),
                                       ("naive", "naive top-4 query", "C7")):
                for q, marker, alpha in (("p95", "o", 1.0), ("p50", ".", 0.45)):
                    y = [f.get(f"{key}{suffix}_{q}") or float("nan") for f in flats]
                    ax.plot(x, y, styles.get(mode, "-"), color=color, marker=marker, alpha=alpha, label=f"{mode} {label} {q}")
        ax.plot([1e5, 1e6], [50, 100], "r*", markersize=14, label="retrieval p95 goals")
        ax.set(xscale="log", yscale="log", xlabel="sentences in the archive", ylabel=what, title=f"latency vs archive size: {what.split(' per')[0]}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    paths.append(RESULTS / "scale_latency.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for mode, data in results.items():
        flats = [_flat(r) for r in data.get("sizes", [])]
        if not flats:
            continue
        x = [f["sentences"] for f in flats]
        ax.plot(x, [f["peak_rss_mb"] for f in flats], styles.get(mode, "-"), color="C0", marker="o", label=f"{mode} query process peak RSS")
        if any(f.get("chroma_server_rss_mb") for f in flats):
            ax.plot(x, [f.get("chroma_server_rss_mb") or float("nan") for f in flats], styles.get(mode, "-"), color="C4", marker="s",
                    label=f"{mode} chroma server RSS")
        ax.plot(x, [f["total_mb"] for f in flats], styles.get(mode, "-"), color="C3", marker="o", label=f"{mode} disk, total")
        ax.plot(x, [f["catalogue_mb"] for f in flats], styles.get(mode, "-"), color="C5", marker=".", label=f"{mode} disk, catalogue")
        ax.plot(x, [f["vectors_mb"] for f in flats], styles.get(mode, "-"), color="C6", marker=".", label=f"{mode} disk, vectors")
    ax.axhline(2048, color="r", linestyle=":", label="RSS goal 2 GiB")
    ax.set(xscale="log", yscale="log", xlabel="sentences in the archive", ylabel="MiB", title="whosaid: memory and disk vs archive size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(RESULTS / "scale_resources.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    kinds = {"real": ("o", "pipeline (real embedding)"), "copy": ("s", "copied rows + vectors"), "ext": ("^", "extension writes")}
    for mode, data in results.items():
        steps = data.get("steps", [])
        for kind, (marker, label) in kinds.items():
            pts = [(s["archive_before"], 1000 * (s["cpu_s"] + s["server_cpu_s"]) / s["articles"]) for s in steps
                   if s["kind"] == kind and s["archive_before"] > 0 and s["sentences"] > 0]
            if pts:
                ax1.plot(*zip(*pts), styles.get(mode, "-"), marker=marker, label=f"{mode} {label}")
        flats = [_flat(r) for r in data.get("sizes", [])]
        if flats:
            x = [f["sentences"] for f in flats]
            probes = [r["probe"] for r in data.get("sizes", [])]
            ax2.plot(x, [f["probe_ms_per_article"] for f in flats], styles.get(mode, "-"), marker="o", label=f"{mode} probe, wall")
            ax2.plot(x, [1000 * (p["cpu_s"] + p["server_cpu_s"]) / p["articles"] for p in probes], styles.get(mode, "-"), marker="s",
                     label=f"{mode} probe, CPU (incl. servers)")
            ax2.plot(x, [f["probe_reconcile_ms"] / PROBE_ARTICLES for f in flats], styles.get(mode, "-"), marker=".",
                     label=f"{mode} probe, its reconcile (wall, per article)")
    ax1.set(xscale="log", yscale="log", xlabel="archive sentences at step start", ylabel="CPU ms per article (incl. servers)",
            title="ingest steps: CPU per article (wall follows the machine's load)")
    ax2.set(xscale="log", yscale="log", xlabel="archive sentences", ylabel="ms per article",
            title=f"probe ingest ({PROBE_ARTICLES} articles)")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(RESULTS / "scale_ingest.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


# --- main ----------------------------------------------------------------------------------------------------


def run_mode(name: str, root: Path, records, counts, args, questions) -> dict:
    t_run, c_run = time.perf_counter(), _cpu()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    mode = Mode(name, root)
    state = _load_state(mode)
    state.setdefault("measured", {})
    mode.start()
    builder = Builder(mode, records, counts, args, state)
    try:
        if "sentences" not in state:
            state["sentences"] = builder.sentences()
        for target in args.sizes:
            key = str(target)
            if key in state["measured"]:
                print(f"[{name}] {_fmt_size(target)}: measured before (kept corpus), reused", file=sys.stderr)
                continue
            if state["sentences"] > target * 1.05:
                print(f"[{name}] {_fmt_size(target)}: the kept archive already holds {state['sentences']:,} sentences; skipped",
                      file=sys.stderr)
                continue
            n_steps = len(state.get("steps", []))
            t, c = time.perf_counter(), _cpu()
            builder.grow_to(target)
            build = {"wall_s": time.perf_counter() - t, "cpu_s": _cpu() - c}
            probe = builder.probe(target)
            builder.close()
            disk = mode.disk()
            print(f"[{name}] {_fmt_size(target)}: disk {disk['total_mb']:.0f} MiB; querying ...", file=sys.stderr)
            query = measure_queries(mode, questions)
            new_steps = [s for s in state.get("steps", [])[n_steps:]]
            kinds = sorted({s["kind"] for s in new_steps})
            sps = [s["sentences_per_s"] for s in new_steps if s["sentences_per_s"]]
            rec = {"target": target, "query": query, "probe": probe, "disk": disk, "build_time": build,
                   "build": "+".join(kinds) or "kept",
                   "step_sentences_per_s": (sum(s["sentences"] for s in new_steps) / sum(s["wall_s"] for s in new_steps)) if sps else None,
                   "step_kind": "+".join(kinds)}
            state["measured"][key] = rec
            _save_state(mode, state)
            print(f"[{name}] {_fmt_size(target)}: {query['counts']['sentences']:,} sentences; retrieval p50/p95 "
                  f"{query['retrieval_p50']:.0f}/{query['retrieval_p95']:.0f} ms, answer {query['answer_p50']:.0f}/{query['answer_p95']:.0f} ms, "
                  f"attribution {query['attribution_p50']:.0f}/{query['attribution_p95']:.0f} ms, peak RSS {query['peak_rss_mb']:.0f} MiB; "
                  f"query process {query['process_wall_s']:.0f} s wall, {query['cpu_s']:.0f} s CPU", file=sys.stderr)
    finally:
        builder.close()
        mode.stop()
    measured = sorted(state["measured"].values(), key=lambda r: r["target"])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = {"wall_s": time.perf_counter() - t_run, "cpu_s": _cpu() - c_run, "args": " ".join(sys.argv[1:]),
           "query_processes_cpu_s": children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime,
           "note": "this invocation only; sizes measured by earlier invocations on a kept corpus cost more (see steps)"}
    return {"run": run, "sizes": [r for r in measured if r["target"] in args.sizes], "steps": state.get("steps", []),
            "extension": {"real_upto": args.real_upto, "noise": args.noise, "copy_from": str(args.copy_from or ""),
                          "copy_upto": args.copy_upto if args.copy_from else None,
                          "real_articles": state.get("real_pos", state.get("pos", 0))}}


def requery(args) -> int:
    """Query figures again on kept archives, so that every size is measured with the same code.
    Entries ``[mode:]SIZE=PATH``: an embedded home, or a server mode's root (its ``pg`` and
    ``chroma-server`` directories)."""
    out_json = args.out
    data = json.loads(out_json.read_text())
    rng = random.Random(SEED)
    titles = sorted({r["title"].strip().rstrip(" .?!") for r in read_fakes() if r["title"].strip()})
    questions = [TITLE_Q.format(t) for t in rng.sample(titles, min(args.questions, len(titles)))]
    done: dict[str, dict[int, dict]] = {}
    for part in args.requery.split(","):
        spec, _, path = part.partition("=")
        name, _, size = spec.rpartition(":")
        name, target, path = name or "embedded", int(float(size)), Path(path).resolve()
        sizes = {r["target"]: r for r in data["modes"].get(name, {}).get("sizes", [])}
        if target not in sizes:
            raise SystemExit(f"--requery: {name} size {size} has no figures in {out_json} yet")
        scratch = None
        if name == "embedded":
            scratch = Path(tempfile.mkdtemp(prefix="whosaid-scale-requery-", dir="/tmp"))
            mode = Mode(name, scratch)
            mode.home = path
        else:
            mode = Mode(name, path)
        mode.start()
        probe = None
        try:
            if args.reprobe:  # ingest cost per article with this code (it writes 2 x 16 articles into the archive)
                records = read_fakes()
                builder = Builder(mode, records, [], args, _load_state(mode))
                try:
                    first = builder.probe(target, f"r{int(time.time())}a")  # may pay a reconcile a migration or kill asked for
                    probe = builder.probe(target, f"r{int(time.time())}b")
                    probe["first_probe"] = first
                finally:
                    builder.close()
            query = measure_queries(mode, questions)
            disk = mode.disk()
        finally:
            mode.stop()
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
        rec = sizes[target]
        rec.setdefault("earlier", []).append({"query": rec["query"], "disk": rec["disk"], **({"probe": rec["probe"]} if probe else {})})
        rec["query"], rec["disk"] = query, disk
        if probe:
            rec["probe"] = probe
        done.setdefault(name, {})[target] = rec
        print(f"[{name}] {_fmt_size(target)} again: {query['counts']['sentences']:,} sentences; retrieval p50/p95 "
              f"{query['retrieval_p50']:.0f}/{query['retrieval_p95']:.0f} ms (CPU {query['retrieval_cpu_p50']:.0f}/"
              f"{query['retrieval_cpu_p95']:.0f}), answer {query['answer_p50']:.0f}/{query['answer_p95']:.0f} ms, attribution "
              f"{query['attribution_p50']:.0f}/{query['attribution_p95']:.0f} ms, peak RSS {query['peak_rss_mb']:.0f} MiB, code {query['code']}",
              file=sys.stderr)
    latest = json.loads(out_json.read_text())  # other runs may have written meanwhile
    for name, recs in done.items():
        sizes = {r["target"]: r for r in latest["modes"][name]["sizes"]} | recs
        latest["modes"][name]["sizes"] = [sizes[t] for t in sorted(sizes)]
    out_json.write_text(json.dumps(latest, indent=1))
    report({name: latest["modes"][name] for name in done})
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e4,1e5,1e6", help="archive sizes in sentences (default 1e4,1e5,1e6)")
    ap.add_argument("--modes", default="embedded,server", help="embedded, server or both (default both)")
    ap.add_argument("--questions", type=int, default=60, help="title questions timed for retrieval and answers (default 60; 24 attribution besides)")
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR", help="build the corpora in DIR and keep them; reuse what DIR holds")
    ap.add_argument("--real-upto", type=float, default=1e5, help="sentences ingested through the real pipeline; beyond, extension (default 1e5)")
    ap.add_argument("--step-sentences", type=int, default=5000, help="sentences per real ingest call (default 5000)")
    ap.add_argument("--ext-step-sentences", type=int, default=50_000, help="sentences per extension step (default 50000)")
    ap.add_argument("--copy-from", type=Path, default=None, metavar="HOME",
                    help="past --real-upto, copy the articles (rows and vectors) another run's real ingest stored in this embedded "
                         "home instead of embedding them again (for server mode: DIR/embedded/home of a kept run)")
    ap.add_argument("--copy-upto", type=float, default=1e5, help="sentences copied from --copy-from at most (default 1e5)")
    ap.add_argument("--noise", type=float, default=0.01, help="per-dimension noise on extension vectors (default 0.01)")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "scale.json", help="the figures' JSON (default bench/results/scale.json)")
    ap.add_argument("--report-only", action="store_true", help="print the tables and draw the plots from bench/results/scale.json")
    ap.add_argument("--requery", default="", metavar="[MODE:]SIZE=PATH,...",
                    help="measure the queries again (current code, back to back) on kept archives of those sizes, replacing their "
                         "query and disk figures in bench/results/scale.json; PATH is an embedded home or a server mode's root "
                         "(e.g. 1e5=/tmp/snap/home,server:1e4=/tmp/s/server)")
    ap.add_argument("--reprobe", action="store_true",
                    help="with --requery: also ingest the 16 probe articles again (twice, fresh variants) and replace the probe figures")
    ap.add_argument("--_worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._worker:
        return worker(args._worker)
    if args.requery:
        return requery(args)
    if args.report_only:
        results = json.loads(args.out.read_text())["modes"]
        report(results)
        if not args.no_plots:
            for p in plots(results):
                print(f"plot: {p}")
        return 0
    args.sizes = _parse_sizes(args.sizes)
    args.real_upto, args.copy_upto = int(args.real_upto), int(args.copy_upto)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if bad := [m for m in modes if m not in ("embedded", "server")]:
        ap.error(f"unknown mode(s): {', '.join(bad)}")

    t0, c0 = time.perf_counter(), _cpu()
    records = read_fakes()
    base = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="whosaid-scale-", dir="/tmp"))
    base.mkdir(parents=True, exist_ok=True)
    counts = sentence_counts(records, base / "sentence-counts.json")
    print(f"corpus: {len(records)} FA-KES articles, {sum(counts):,} sentences per variant ({'jsonl' if CORPUS.exists() else 'csv'}); "
          f"work dir {base}", file=sys.stderr)
    rng = random.Random(SEED)
    titles = sorted({r["title"].strip().rstrip(" .?!") for r in records if r["title"].strip()})
    questions = [TITLE_Q.format(t) for t in rng.sample(titles, min(args.questions, len(titles)))]

    out_json = args.out
    results: dict = {}
    try:
        for name in modes:
            if name == "server":
                from deploy.stack import ServerUnavailable

                try:
                    import rag.store.postgres  # noqa: F401
                except ImportError as e:
                    print(f"server mode skipped: {e}", file=sys.stderr)
                    continue
                try:
                    results[name] = run_mode(name, base / name, records, counts, args, questions)
                except ServerUnavailable as e:
                    print(f"server mode skipped: {e}", file=sys.stderr)
            else:
                results[name] = run_mode(name, base / name, records, counts, args, questions)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    RESULTS.mkdir(parents=True, exist_ok=True)
    # merged with what other runs (other modes, perhaps running at the same time) wrote meanwhile
    results = {**(json.loads(out_json.read_text()).get("modes", {}) if out_json.exists() else {}), **results}
    out_json.write_text(json.dumps({"modes": results, "corpus": {
        "articles": len(records), "sentences_per_variant": sum(counts), "source": str(CORPUS if CORPUS.exists() else CSV_CORPUS)},
        "last_run": {"sizes": args.sizes, "modes": modes, "wall_s": wall, "cpu_s": cpu,
                     "children_cpu_s": children.ru_utime + children.ru_stime}}, indent=1))
    report({m: results[m] for m in modes if m in results})
    print(f"\nrun: {wall:.0f} s wall, {cpu:.0f} s CPU in this process, {children.ru_utime + children.ru_stime:.0f} s CPU in query "
          f"processes; load average now {os.getloadavg()[0]:.1f}")
    if not args.no_plots and results:
        for p in plots(results):
            print(f"plot: {p}")
    print(f"figures: {out_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
