# Every target builds its own virtual environment first, so a fresh clone needs nothing else.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-slow demo bench lint world-model world-model-square clean

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
	$(BIN)/ruff check patchflow tests bench

# The bundled model, in stages that each leave a file behind, so an interrupted `make world-model`
# picks up at the first unfinished stage: VAE, latent cache, DiT, then bench and copy into models/.
PF := HF_HUB_OFFLINE=1 $(BIN)/patchflow
# The run folder can live outside the work tree (make world-model WM_RUN=$$HOME/runs/world_tiny), so a
# fresh checkout does not lose a long run.
WM_RUN ?= runs/world_tiny
WM_DIRS = --set train.out_dir=$(WM_RUN) --set data.cache_dir=$(WM_RUN)/data
WM_OUT := models/world-tiny
# --resume when a training stage left a checkpoint: an interrupted stage continues where it stopped
resume_if = $(if $(wildcard $(1)/checkpoints/latest),--resume)
WM_VAE := $(WM_RUN)/vae/diffusion_pytorch_model.safetensors
WM_CAP := $(WM_RUN)/captioner/captioner/config.json
world-model: $(WM_RUN)/model/model_index.json $(WM_CAP) | $(STAMP)
	rm -rf $(WM_OUT).tmp && mkdir -p $(dir $(WM_OUT)) && cp -r $(WM_RUN)/model $(WM_OUT).tmp
	cp -r $(WM_RUN)/captioner/captioner $(WM_OUT).tmp/captioner && cp $(WM_RUN)/captioner/eval.json \
		$(WM_OUT).tmp/captioner/eval.json
	cp $(WM_RUN)/metrics.jsonl $(WM_RUN)/loss.png $(WM_OUT).tmp/
	mkdir -p $(WM_OUT).tmp/vae_training && cp $(WM_RUN)/vae_train/metrics.jsonl $(WM_RUN)/vae_train/loss.png \
		$(WM_OUT).tmp/vae_training/
	$(PF) eval vae --model $(WM_OUT).tmp --recipe world_tiny --n 8 --json > $(WM_OUT).tmp/vae_eval.json
	$(PF) eval world --model $(WM_OUT).tmp --n-per-category 8 --long --out $(WM_OUT).tmp/bench --json \
		> $(WM_OUT).tmp/bench.json
	$(PF) eval world --model world-truth --through-vae $(WM_OUT).tmp --n-per-category 8 --long \
		--out $(WM_OUT).tmp/bench_vae_ceiling --json > $(WM_OUT).tmp/bench_vae_ceiling.json
	rm -rf $(WM_OUT) && mv $(WM_OUT).tmp $(WM_OUT)
	sed -i 's|$(WM_OUT).tmp|$(WM_OUT)|g' $(WM_OUT)/vae_eval.json $(WM_OUT)/bench.json $(WM_OUT)/bench/summary.* \
		$(WM_OUT)/bench_vae_ceiling.json $(WM_OUT)/bench_vae_ceiling/summary.*

# the world captioner (re-captioning, docs/language.md): 30 CPU-minutes, shipped in models/world-tiny/captioner
$(WM_CAP): | $(STAMP)
	$(PF) caption train --recipe world_captioner --minutes 30 --out $(WM_RUN)/captioner \
		$(call resume_if,$(WM_RUN)/captioner)

$(WM_VAE): | $(STAMP)
	$(PF) vae train --recipe world_tiny $(WM_DIRS) $(WM_SET) $(call resume_if,$(WM_RUN)/vae_train)

$(WM_RUN)/latents/index.json: $(WM_VAE)
	$(PF) data encode --recipe world_tiny --out $(WM_RUN)/latents --set train.vae_path=$(WM_RUN)/vae $(WM_DIRS) $(WM_SET)

$(WM_RUN)/model/model_index.json: $(WM_RUN)/latents/index.json
	$(PF) train --recipe world_tiny --set train.vae_path=$(WM_RUN)/vae --set data.latents=$(WM_RUN)/latents \
		$(WM_DIRS) $(WM_SET) $(call resume_if,$(WM_RUN))

# The same DiT recipe trained on square centre crops only (the report's native-aspect comparison),
# on the bundled model's VAE; its bench lands in runs/world_tiny_square/bench.json.
SQ_RUN := runs/world_tiny_square
SQ_SET := --set 'data.buckets.aspect_ratios=["1:1"]' --set train.out_dir=$(SQ_RUN) $(WM_SET)
world-model-square: $(SQ_RUN)/model/model_index.json | $(STAMP)
	$(PF) eval world --model $(SQ_RUN)/model --n-per-category 8 --long --out $(SQ_RUN)/bench --json > $(SQ_RUN)/bench.json

$(SQ_RUN)/latents/index.json: $(WM_VAE)
	$(PF) data encode --recipe world_tiny --out $(SQ_RUN)/latents --set train.vae_path=$(WM_RUN)/vae $(SQ_SET)

$(SQ_RUN)/model/model_index.json: $(SQ_RUN)/latents/index.json
	$(PF) train --recipe world_tiny --set train.vae_path=$(WM_RUN)/vae --set data.latents=$(SQ_RUN)/latents $(SQ_SET)

clean:
	rm -rf $(VENV) outputs .pytest_cache
