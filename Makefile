# Rollbook: `make demo` and `make test` are all a new machine needs (Python 3.11+ and make).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CHECKED := $(wildcard src tests benchmarks)

.PHONY: demo test lint format benchmark clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else "Rollbook needs Python 3.11 or newer; this is " + sys.version.split()[0] + ". Run: make PYTHON=/path/to/python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# make demo PORT=8001: serve the demo on another port than 8000.
demo: $(STAMP)
	$(BIN)/rollbook demo $(if $(PORT),--port $(PORT))

# axe-core (the browser tests' accessibility check), from tests/web/package-lock.json: only
# when npm exists and it is missing; without npm those tests skip and say why.
AXE := tests/web/node_modules/axe-core/axe.min.js

test: $(STAMP) lint
	@test -f $(AXE) || ! command -v npm >/dev/null || npm ci --prefix tests/web --no-audit --no-fund
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)

format: $(STAMP)
	$(BIN)/ruff check --fix $(CHECKED)
	$(BIN)/ruff format $(CHECKED)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
