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

# The bundled model: VAE, latent cache, DiT, bench, then copy into models/world-tiny.
WM_RUN := runs/world_tiny
WM_OUT := models/world-tiny
world-model: venv
	HF_HUB_OFFLINE=1 $(BIN)/patchflow vae train --recipe world_tiny $(WM_SET)
	HF_HUB_OFFLINE=1 $(BIN)/patchflow data encode --recipe world_tiny --out $(WM_RUN)/latents \
		--set train.vae_path=$(WM_RUN)/vae $(WM_SET)
	HF_HUB_OFFLINE=1 $(BIN)/patchflow train --recipe world_tiny \
		--set train.vae_path=$(WM_RUN)/vae --set data.latents=$(WM_RUN)/latents $(WM_SET)
	rm -rf $(WM_OUT).tmp && cp -r $(WM_RUN)/model $(WM_OUT).tmp
	cp $(WM_RUN)/metrics.jsonl $(WM_RUN)/loss.png $(WM_OUT).tmp/ 2>/dev/null || true
	HF_HUB_OFFLINE=1 $(BIN)/patchflow eval world --model $(WM_OUT).tmp --n-per-category 4 \
		--out $(WM_OUT).tmp/bench --json > $(WM_OUT).tmp/bench.json
	rm -rf $(WM_OUT) && mv $(WM_OUT).tmp $(WM_OUT)

clean:
	rm -rf $(VENV) outputs .pytest_cache
