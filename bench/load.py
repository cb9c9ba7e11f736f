"""Throughput and latency of ``whosaid serve`` under concurrent load, with an ingest writing meanwhile.

A real ``whosaid serve`` (``WHOSAID_WORKERS``, default 32) over a temporary data directory holding the
bundled sample articles; ``--clients`` threads (default 32) POST ``/api/ask`` with a mix of questions
from ``evals/suites/samples.jsonl`` for ``--seconds`` (default 60), while ``whosaid ingest`` adds
generated articles (on a subject the questions never touch) batch after batch. Two runs:

- ``llm``: the answerer is a scripted OpenAI-compatible server on 127.0.0.1 (``tests/openai_server.py``,
  one thread per request) that takes ``--delay`` seconds (default 2) per answer, then quotes the shown
  sentence sharing most words with the question and cites it (a CitedAnswer tool call);
- ``extractive``: no LLM (``WHOSAID_LLM_ENABLED=false``).

Reported per run: answers/s (answers completed within the window / the window), p50, p95 and max
latency (of every answer, those finishing after the window too), errors (non-200, transport errors, and in the llm run any answer that fell back to
the extractive one), "right" (an answerable question cites one of its gold sentences; an unanswerable
one abstains) and "stable" (the answer equals one the server gave unloaded, before or after the run).

Goals (llm run): answers/s >= 0.8 x clients / delay (12.8 for 32 clients and 2 s) and p95 <= delay + 1 s;
0 errors in both runs. Everything stays on 127.0.0.1; no development data is needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Iterator  # noqa: E402

import httpx  # noqa: E402

from bench._common import make_home, median, percentile, remove_home, table  # noqa: E402
from deploy.stack import free_port, start_serve  # noqa: E402
from tests.reliability.test_load import write_load_corpus  # noqa: E402

SAMPLES = _ROOT / "samples" / "articles"
SUITE = _ROOT / "evals" / "suites" / "samples.jsonl"
WARM_UP = ("How many containers did the port handle last year?", "Who denied the port sale?")  # retrieval, ledger
LLM_VARS = ("WHOSAID_LLM_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "WHOSAID_LLM_MODEL", "WHOSAID_LLM_ENABLED")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@dataclass(frozen=True)
class Question:
    text: str
    gold: frozenset[tuple[str, str]]  # (article_id, sentence text)
    abstain: bool


def load_questions(answerable: int, unanswerable: int) -> list[Question]:
    rows = [json.loads(line) for line in SUITE.read_text().splitlines()[1:] if line.strip()]
    make = lambda r: Question(r["question"], frozenset((g["article_id"], g["text"].strip()) for g in r.get("gold") or []),  # noqa: E731
                              bool(r.get("expect_abstain")))
    return ([make(r) for r in rows if not r.get("expect_abstain")][:answerable]
            + [make(r) for r in rows if r.get("expect_abstain")][:unanswerable])


def answer_key(payload: dict) -> tuple:
    return (payload["answer"], payload["abstained"], tuple((c["article_id"], c["sentence_index"]) for c in payload["citations"]))


def is_right(q: Question, payload: dict) -> bool:
    if q.abstain:
        return payload["abstained"]
    cited = {(c["article_id"], c["text"].strip()) for c in payload["citations"]}
    return not payload["abstained"] and bool(cited & q.gold)


@contextmanager
def scripted_llm(delay: float) -> Iterator[str]:
    """tests/openai_server.py in a process of its own (the clients' threads must not slow its replies);
    yields its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--delay", str(delay)], cwd=_ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the scripted LLM server did not start (rc {proc.poll()})")
        yield url
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


class Ingests:
    """``whosaid ingest`` of a new batch of articles, one after another, until stopped."""

    def __init__(self, env: dict, workdir: Path, per_batch: int, first_batch: int) -> None:
        self.env, self.workdir, self.per_batch, self.batch = env, workdir, per_batch, first_batch
        self.added = self.batches = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ingests", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            path = self.workdir / f"astro-{self.batch:03d}.jsonl"
            write_load_corpus(path, self.per_batch, batch=f"{self.batch:03d}")
            self.batch += 1
            done = subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(path), "--no-progress", "--json"],
                                  cwd=_ROOT, env=self.env, capture_output=True, text=True)
            if done.returncode != 0:
                self.failures.append(done.stderr.strip()[-500:])
                continue
            self.batches += 1
            self.added += json.loads(done.stdout)["added"]

    def __enter__(self) -> "Ingests":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)  # the server's timings_ms, per stage
    late: list[float] = field(default_factory=list)  # latencies of answers completed after the window
    errors: list[str] = field(default_factory=list)
    right: int = 0
    answered: list[tuple[Question, tuple]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def ask(http: httpx.Client, q: Question, llm: bool) -> dict:
    r = http.post("/api/ask", json={"question": q.text})
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
    payload = r.json()
    if llm and payload.get("notice") and "language model could not answer" in payload["notice"]:
        raise RuntimeError(f"fell back to extractive: {payload['notice'][:200]}")
    return payload


def baseline(base: str, questions: list[Question], llm: bool) -> dict[str, tuple]:
    """Each question's answer with little load (8 at a time: the llm run's delay would make a serial pass slow)."""
    with httpx.Client(base_url=base, timeout=600, trust_env=False) as http, ThreadPoolExecutor(8) as pool:
        return dict(zip((q.text for q in questions), pool.map(lambda q: answer_key(ask(http, q, llm)), questions)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def load(base: str, questions: list[Question], clients: int, seconds: float, llm: bool) -> tuple[Run, float]:
    """Clients ask back to back until ``seconds`` have passed; returns the run and the answers/s
    (answers completed within the window / the window)."""
    run = Run()
    started = time.monotonic()
    deadline = started + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=600, trust_env=False) as http:
            while time.monotonic() < deadline:
                q = rng.choice(questions)
                t = time.perf_counter()
                try:
                    payload = ask(http, q, llm)
                except Exception as e:  # noqa: BLE001 - every failure is counted
                    with run.lock:
                        run.errors.append(f"{q.text!r}: {type(e).__name__}: {str(e)[:200]}")
                    continue
                elapsed = time.perf_counter() - t
                if time.monotonic() > deadline:  # finished after the window: its latency counts, not its answer
                    with run.lock:
                        run.late.append(elapsed)
                    continue
                with run.lock:
                    run.latencies.append(elapsed)
                    for stage, ms in (payload.get("timings_ms") or {}).items():
                        run.stages.setdefault(stage, []).append(ms / 1000)
                    run.right += is_right(q, payload)
                    run.answered.append((q, answer_key(payload)))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return run, len(run.latencies) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60, help="how long the clients ask, per run (default 60)")
    ap.add_argument("--clients", type=int, default=32, help="concurrent client threads (default 32)")
    ap.add_argument("--workers", type=int, default=32, help="WHOSAID_WORKERS for the server (default 32)")
    ap.add_argument("--delay", type=float, default=2.0, help="seconds the scripted LLM takes per answer (default 2)")
    ap.add_argument("--batch", type=int, default=40, help="articles per ingest batch while the load runs (default 40)")
    ap.add_argument("--runs", default="llm,extractive", help="which runs, comma-separated (default llm,extractive)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    args = ap.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not set(runs) <= {"llm", "extractive"}:
        ap.error("--runs takes llm and/or extractive")

    home = make_home("load")
    env = {k: v for k, v in os.environ.items() if k not in LLM_VARS + PROXY_VARS}
    env.update(WHOSAID_HOME=str(home), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    questions = load_questions(answerable=24, unanswerable=8)
    rows, where, failures = [], [], []
    with scripted_llm(args.delay) as llm_url:
        try:
            measure(args, runs, env, home, questions, llm_url, rows, where, failures)
        finally:
            remove_home(home, args.keep)
    report(args, rows, where, failures)


def measure(args: argparse.Namespace, runs: list[str], env: dict, home: Path, questions: list[Question], llm_url: str,
            rows: list, where: list, failures: list) -> None:
    """Each run against a fresh ``whosaid serve`` over ``home``; appends to the tables and failures."""
    batch = 0
    print(f"ingesting {SAMPLES.relative_to(_ROOT)} into {home} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "ui.cli", "ingest", str(SAMPLES), "--no-progress"], cwd=_ROOT, env=env,
                   check=True, capture_output=True)
    for mode in runs:
        llm = mode == "llm"
        server_env = {**env, "WHOSAID_WORKERS": str(args.workers)}
        server_env.update({"WHOSAID_LLM_BASE_URL": llm_url, "WHOSAID_LLM_MODEL": "scripted"} if llm
                          else {"WHOSAID_LLM_ENABLED": "false"})
        server = start_serve(home, free_port(), server_env)
        print(f"{mode}: server log {server.log}", file=sys.stderr)
        with server:
            base, pid = server.url, server.pid
            # one request alone first: it opens the engine (a cold engine's first requests are
            # tests/test_concurrency.py's business; this measures the steady state)
            for q in WARM_UP:
                baseline(base, [Question(q, frozenset(), False)], llm)
            before = baseline(base, questions, llm)
            print(f"{mode}: {args.clients} clients for {args.seconds:.0f} s, ingesting meanwhile ...", file=sys.stderr)
            cpu0, load0 = cpu_seconds(pid), os.getloadavg()[0]
            with tempfile.TemporaryDirectory() as work, Ingests(env, Path(work), args.batch, batch) as ingests:
                run, rate = load(base, questions, args.clients, args.seconds, llm)
            cpu, load1 = cpu_seconds(pid) - cpu0, os.getloadavg()[0]
            batch = ingests.batch
            after = baseline(base, questions, llm)
        stable = sum(key in (before[q.text], after[q.text]) for q, key in run.answered)
        n, every = len(run.latencies), run.latencies + run.late
        errors = len(run.errors) + len(ingests.failures)
        failures += [f"{mode}: {e}" for e in run.errors[:5] + ingests.failures[:5]]
        rows.append([mode, args.clients, args.workers, n, rate, median(every), percentile(every, 95),
                     max(every, default=float("nan")), errors, f"{100 * run.right / n:.0f}%" if n else "-",
                     f"{100 * stable / n:.0f}%" if n else "-", f"{ingests.added} ({ingests.batches})"])
        stage = lambda name: median(run.stages.get(name, []))  # noqa: E731
        where.append([mode, median(every), stage("total"), stage("retrieve"), stage("llm") if llm else stage("answer"),
                      1000 * cpu / n if n else float("nan"), f"{load0:.1f} / {load1:.1f}"])


def report(args, rows, where, failures) -> None:
    print(f"\nload: {args.seconds:.0f} s per run, scripted LLM {args.delay:g} s per answer, ingest batches of {args.batch} meanwhile\n")
    print(table(["run", "clients", "workers", "answers", "answers/s", "p50 s", "p95 s", "max s", "errors", "right",
                 "stable", "ingested (batches)"], rows))
    print("\nwhere the time goes (medians, s): client latency, the server's own total, its evidence stage (retrieval or the"
          " claims ledger) and its answerer (the LLM call, or the extractive answerer); the server's CPU per answer;"
          " the machine's load average before / after\n")
    print(table(["run", "latency", "server total", "evidence", "answerer", "server CPU ms/answer", "load avg"], where))
    goal_rate, goal_p95 = 0.8 * args.clients / args.delay, args.delay + 1
    for r in rows:
        if r[0] == "llm":
            ok = r[4] >= goal_rate and r[6] <= goal_p95 and r[8] == 0
            print(f"\nllm goal: >= {goal_rate:.1f} answers/s, p95 <= {goal_p95:g} s, 0 errors: {'met' if ok else 'NOT met'}")
        elif r[8]:
            print("\nextractive goal: 0 errors: NOT met")
    for f in failures:
        print(f"error: {f}", file=sys.stderr)
    if any(r[8] for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
