# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNEQ_VENV := .venv-runeq
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# runeq 0.15.0 lives in a venv of its own: it installs a `runeq` script and a top-level `cli` package.
$(RUNEQ_VENV)/.installed:
	$(PYTHON) -m venv $(RUNEQ_VENV)
	$(RUNEQ_VENV)/bin/pip install -q runeq==0.15.0
	touch $@

demo: $(STAMP)
	$(BIN)/runeq demo

test: $(STAMP) $(RUNEQ_VENV)/.installed
	$(BIN)/ruff check .
	RUNEQ_PYTHON=$(RUNEQ_VENV)/bin/python $(BIN)/pytest

bench: $(STAMP) $(RUNEQ_VENV)/.installed
	RUNEQ_PYTHON=$(RUNEQ_VENV)/bin/python $(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(RUNEQ_VENV) build *.egg-info .pytest_cache .hypothesis
