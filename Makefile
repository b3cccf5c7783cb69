# The two entry points of the README. Both work on a fresh clone with only
# Python 3.11, pip and make: they create .venv and install into it first.
# Recipes are silent (@) so that `make run` prints on stdout only what
# vconstore itself prints: the `ledger ready on H:P`, `development key: vcs_live_sk_...`
# and `vconstore ready on H:P` lines.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 50051
DATA_DIR ?= ./data

.PHONY: run test lint protos bench clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip >&2

# Editable installs: the code that runs is the code in the work tree, so a
# `git pull` or an edit needs no reinstall; only pyproject.toml changes do.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	@$(BIN)/python -m pip install --quiet -e '.[tools]' >&2
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	@$(BIN)/python -m pip install --quiet -e '.[dev]' >&2
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	@$(BIN)/vconstore up --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test: $(VENV)/.installed-dev
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check service clients tests bench protos
	$(BIN)/ruff format --check service clients tests bench protos
	$(BIN)/mypy

protos: $(VENV)/.installed-dev
	$(BIN)/python protos/generate.py

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/bench_vcon_service.py
	$(BIN)/python bench/bench_ledger.py

clean:
	rm -rf $(VENV) build *.egg-info
