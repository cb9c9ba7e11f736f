"""What the LLM chain adds beyond the model call: retrieval + prompt + stream parsing + verification.

Runs the real chain (ChatOpenAI through the openai client) against the scripted OpenAI-compatible
server from tests/ on 127.0.0.1, which answers at once with a streamed tool call citing sentence
[1]. Overhead per question = total time - time spent waiting on the model stream (timings["llm"]).
Ingests the bundled samples plus, when present, the FA-KES corpus (--corpus fakes).

Goal: overhead p95 <= 100 ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]  # bench/ingest.py must not shadow the ingest package
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

from bench._common import CORPUS, make_home, percentile, remove_home, table  # noqa: E402

QUESTIONS = [
    "Who ruled out water rationing?", "What did the water authority decide?", "Who denied the port sale?",
    "What did the central bank do with rates?", "Who confirmed the data leak?", "What did the court rule about charities?",
    "Who warned about the naval exercise?", "What happened at the border crossing?", "Who denied overpaying for vaccines?",
    "What did the club say about the striker?", "Who accused the ministry?", "What did the navy deny?",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=60, help="questions to time (cycled from a fixed list)")
    ap.add_argument("--corpus", choices=["samples", "fakes"], default="samples", help="what to ingest first")
    ap.add_argument("--keep", action="store_true", help="keep the temporary WHOSAID_HOME")
    args = ap.parse_args()

    from ingest.pipeline import ingest
    from rag.embeddings import MiniLMOnnxEmbedder
    from rag.engine import Engine
    from rag.llm import make_chat_model
    from rag.settings import LLMSettings, Settings
    from rag.store import Store
    from tests.openai_server import ScriptedOpenAI, ToolCall

    home = make_home("llm")
    store = Store(Settings(home=home), MiniLMOnnxEmbedder())
    paths = [_ROOT / "samples" / "articles"] + ([CORPUS] if args.corpus == "fakes" and CORPUS.exists() else [])
    ingest(paths, store, progress=False)
    reply = json.dumps({"statements": [{"text": "An answer resting on the first sentence shown", "citations": [1]},
                                       {"text": "A second statement citing two sentences", "citations": [1, 2]}]})
    rows = []
    with ScriptedOpenAI() as server:
        settings = LLMSettings(base_url=server.base_url, model="scripted", retries=0)
        engine = Engine(store, chat_model=make_chat_model(settings), llm=settings)
        for i in range(3 + args.n):
            server.push(ToolCall("CitedAnswer", reply, chunk_size=16))
            t0 = time.perf_counter()
            answer = engine.ask(QUESTIONS[i % len(QUESTIONS)])
            wall = (time.perf_counter() - t0) * 1000
            if i >= 3:  # warm-up excluded
                assert answer.mode == "llm", answer.notice
                t = answer.timings
                rows.append({"total": wall, "llm": t["llm"], "overhead": wall - t["llm"], "retrieve": t["retrieve"], "verify": t["verify"]})
    print(f"## LLM chain overhead: {args.n} questions, {store.catalogue.counts(store.space)['articles']} articles, scripted server on 127.0.0.1\n")
    print(table(["ms", "p50", "p95", "max"], [
        (k, percentile([r[k] for r in rows], 50), percentile([r[k] for r in rows], 95), max(r[k] for r in rows))
        for k in ("overhead", "retrieve", "verify", "llm", "total")
    ]))
    print("\noverhead = total - llm (the time spent reading the model's stream, including the HTTP round trip)")
    store.close()
    remove_home(home, args.keep)


if __name__ == "__main__":
    main()
