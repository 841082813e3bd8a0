# Two commands set everything up on a fresh machine with only python3:
#   make demo   install, index seeds/ into indexes/default, query it
#   make test   install with test dependencies, check the import layering, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt
QUERY ?= Which anti-aircraft weapon was Wagner said to be sending to Hezbollah?

.PHONY: demo test bench clean

demo: $(VENV)/.installed
	$(BIN)/storycluster index seeds/ --index indexes/default
	$(BIN)/storycluster similar "$(QUERY)" --index indexes/default --level paragraph -k 3 --format table

test: $(VENV)/.installed-test
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/retrieval.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) -e '.[test]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) indexes/default
