# The two commands of the README: `make run` and `make test`. Everything else hangs off them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup run test lint proto bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml client/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./client -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/broker serve

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check broker client tests bench
	$(BIN)/mypy
	cd proto && ../$(BIN)/buf lint
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/check-proto.sh

proto: setup
	PATH=$(CURDIR)/$(BIN):$$PATH scripts/gen-proto.sh

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
