# One command to run, one to test. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export NEWSQA_DATA_DIR ?= $(CURDIR)/var/data
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run index chat test lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

# torch first, pinned: pip then takes the CPU wheel on disk instead of a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[api,bot,dev]'
	touch $@

install: $(VENV)/.installed

index: install
	@if [ -f "$(NEWSQA_DATA_DIR)/newsqa.sqlite3" ] && [ "$$($(BIN)/newsqa stats --json | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)["articles"])')" != "0" ]; then \
		echo "index in $(NEWSQA_DATA_DIR) already built"; \
	else \
		$(BIN)/newsqa ingest samples/articles; \
	fi

# Builds the sample index if there is none, then serves the API and the web page, and the
# Telegram bot beside it when TELEGRAM_BOT_TOKEN is set (stopped when the server stops).
run: index
	@echo "newsqa web page: http://$${NEWSQA_HOST:-127.0.0.1}:$${NEWSQA_PORT:-8000}/"
	@if [ -n "$$TELEGRAM_BOT_TOKEN" ]; then \
		$(BIN)/newsqa bot & bot=$$!; \
		trap 'kill -TERM $$bot 2>/dev/null; wait $$bot' EXIT INT TERM; \
	fi; \
	$(BIN)/newsqa serve

chat: index
	$(BIN)/newsqa chat

lint: install
	$(BIN)/ruff check index qa bots tests scripts
	$(BIN)/ruff format --check index qa bots tests scripts
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
