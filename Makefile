# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNEQ_VENV := .venv-runeq
MIN_VENV := .venv-min
STAMP := $(VENV)/.installed
# The optional extras the tests, examples and docs use: CI fails, rather than skips, without them.
EXTRAS := pandas,arrow,plot,dask,progress,docs
EXTRAS_STAMP := $(VENV)/.extras

.PHONY: demo test test-min bench docs clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

$(EXTRAS_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

# runeq 0.15.0 lives in a venv of its own: it installs a `runeq` script and a top-level `cli` package.
$(RUNEQ_VENV)/.installed:
	$(PYTHON) -m venv $(RUNEQ_VENV)
	$(RUNEQ_VENV)/bin/pip install -q runeq==0.15.0
	touch $@

demo: $(STAMP)
	$(BIN)/runeq demo
	@echo "runeq-fn is installed in $(VENV): run '. $(VENV)/bin/activate' to put runeq, runeq-fn and its python first on your PATH"

test: $(STAMP) $(EXTRAS_STAMP) $(RUNEQ_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	RUNEQ_PYTHON=$(RUNEQ_VENV)/bin/python $(BIN)/pytest -n auto

# Not part of `make test`: the lowest versions setup.cfg admits (constraints-min.txt, which
# tests/test_floors.py keeps equal to install_requires) in a fresh venv, and every test that needs no
# optional extra (tests and doctests that need one are skipped: CI is unset here; see tests/extras.py).
test-min: $(RUNEQ_VENV)/.installed
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install -q --upgrade pip
	$(MIN_VENV)/bin/pip install -q --constraint constraints-min.txt -e '.[test]'
	env -u CI RUNEQ_PYTHON=$(RUNEQ_VENV)/bin/python $(MIN_VENV)/bin/pytest

# The documentation site, into site/ (MkDocs; warnings are errors). make test builds it too (tests/test_docs_site.py).
docs: $(EXTRAS_STAMP)
	$(BIN)/mkdocs build --strict

bench: $(EXTRAS_STAMP) $(RUNEQ_VENV)/.installed
	RUNEQ_PYTHON=$(RUNEQ_VENV)/bin/python $(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(RUNEQ_VENV) $(MIN_VENV) build site *.egg-info .pytest_cache .hypothesis
