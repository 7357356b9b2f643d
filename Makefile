# Two commands for a fresh machine (see README):
#   make run    set everything up (venv, pinned packages, index) and start the chat
#   make test   set everything up (plus Chromium for browser tests) and run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup index run test lint typecheck browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pinned: key packages in pyproject.toml, everything else in constraints.txt
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,ray]'
	touch $@

setup: $(VENV)/.installed

index: setup
	$(BIN)/qa index

run: index
	$(BIN)/python app.py

# Debian's Chromium for the browser tests (never `playwright install`)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

lint: setup
	$(BIN)/ruff check qa tests bench app.py
	$(BIN)/ruff format --check qa tests bench app.py

typecheck: setup
	$(BIN)/mypy

test: setup browser lint typecheck
	$(BIN)/pytest -q

bench: index
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/build.py
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) index/CURRENT index/build-* index/.tmp-* data/eval-index
