# The two commands of the quick start: `make serve` and `make test`.
# Both set up a virtual environment first; it is only reinstalled when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8000
HOST   ?= 127.0.0.1
STOMP_PORT ?= 61613
SPHINXOPTS ?= -W -n --keep-going -q

.PHONY: setup docs docs-student serve test pytest lint docs-test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed" or 0)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# The site, as readers see it. Notebooks are executed, and re-executed only when they change.
docs: $(STAMP)
	COMET_NB_EXECUTION=cache $(PY) -m sphinx -b html $(SPHINXOPTS) . _build/html

# The student handout: the same site without the exercise solutions.
docs-student: $(STAMP)
	COMET_NB_EXECUTION=cache $(PY) -m sphinx -b html -t student $(SPHINXOPTS) . _build/student

serve: docs
	$(PY) -m comet_core serve --host $(HOST) --port $(PORT) --stomp-port $(STOMP_PORT) --docs _build/html

lint: $(STAMP)
	$(PY) -m ruff check .

pytest: $(STAMP)
	$(PY) -m pytest

# A fresh build with every notebook executed anew, so a change to comet_core re-runs them.
docs-test: $(STAMP)
	rm -rf _build/test-html
	COMET_NB_EXECUTION=force $(PY) -m sphinx -E -b html $(SPHINXOPTS) . _build/test-html

test: lint pytest docs-test

clean:
	rm -rf _build
