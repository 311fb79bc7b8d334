# Every target builds its own virtual environment first, so a fresh clone needs nothing else.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-slow demo bench lint world-model clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

test: venv
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-slow: venv
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m slow

demo: venv
	HF_HUB_OFFLINE=1 $(BIN)/python -m patchflow demo --out outputs

bench: venv
	HF_HUB_OFFLINE=1 $(BIN)/python bench/world.py

lint: venv
	$(BIN)/ruff check patchflow recipes tests bench

clean:
	rm -rf $(VENV) outputs .pytest_cache
