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
# Sphinx's saved state (doctrees: pages as parsed, solutions and paths of this machine included)
# lives beside the sites, never inside a folder that `serve` publishes.
DOCTREES := _build/doctrees

.PHONY: setup docs docs-student serve test pytest lint docs-test clean lab

# npm packages the browser tests use (e.g. @stomp/stompjs); without npm those tests skip.
NODE_LOCK  := $(wildcard tests/browser/package-lock.json)
NODE_STAMP := $(if $(NODE_LOCK),tests/browser/node_modules/.installed)

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed" or 0)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

tests/browser/node_modules/.installed: tests/browser/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the browser tests that need npm packages will skip"; fi

# The site, as readers see it. Notebooks are executed, and re-executed only when they change.
docs: $(STAMP)
	COMET_NB_EXECUTION=cache $(PY) -m sphinx -b html -d $(DOCTREES)/html $(SPHINXOPTS) . _build/html

# The student handout: the same site without the exercise solutions.
docs-student: $(STAMP)
	COMET_NB_EXECUTION=cache $(PY) -m sphinx -b html -t student -d $(DOCTREES)/student \
	  $(SPHINXOPTS) . _build/student

serve: docs
	$(PY) -m comet_core serve --host $(HOST) --port $(PORT) --stomp-port $(STOMP_PORT) --docs _build/html

lint: $(STAMP)
	$(PY) -m ruff check .

pytest: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest

# A fresh build with every notebook executed anew, so a change to comet_core re-runs them.
docs-test: $(STAMP)
	rm -rf _build/test-html $(DOCTREES)/test-html
	COMET_NB_EXECUTION=force $(PY) -m sphinx -E -b html -d $(DOCTREES)/test-html $(SPHINXOPTS) \
	  . _build/test-html

test: lint pytest docs-test docs-student

# JupyterLab on the walkthroughs in notebooks/, from the project's environment. Jupyter is the
# optional extra `lab`, installed into .venv the first time, so that a plain install stays small.
LAB_STAMP := $(VENV)/.lab-installed

$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[dev,lab]'
	@touch $(LAB_STAMP)

# (Jupyter refuses to run as root unless told, so as root it is told.)
lab: $(LAB_STAMP)
	$(PY) -m jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

clean:
	rm -rf _build
