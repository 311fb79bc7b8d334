"""The DiT trainer on the debug recipe and a tiny world: learning, exact resume, NaN skipping, model folder."""

import json
import shutil

import pytest
import torch
from tiny_world import tiny_config

from patchflow.config import to_dict
from patchflow.model_index import read_model_config
from patchflow.train.checkpoint import load_checkpoint
from patchflow.train.logging import read_metrics
from patchflow.train.trainer import Trainer


def test_loss_falls_over_50_steps(tmp_path, tiny_root, debug_vae_dir):
    # Latents of a fitted VAE: a random VAE's latents are noise with no structure for the DiT to learn.
    from patchflow.data.latent_cache import encode_cache
    from patchflow.models.vae import CausalVAE
    from patchflow.text import TextEncoder
    from patchflow.train.batches import data_rows

    vae_path = f"train.vae_path={debug_vae_dir}"
    cache_cfg = tiny_config(tiny_root, None, vae_path)
    encode_cache(cache_cfg, data_rows(cache_cfg, None, True), tmp_path / "latents",
                 CausalVAE.from_pretrained(debug_vae_dir).eval(), TextEncoder(cache_cfg.text), torch.device("cpu"))
    cfg = tiny_config(tmp_path, tmp_path / "latents", "train.steps=50", "train.lr=2e-3", vae_path)
    trainer = Trainer(cfg, show_progress=False)
    folder = trainer.fit()
    losses = [loss for _, loss in trainer.history]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    print(f"loss: first 10 steps {first:.4f}, last 10 steps {last:.4f}")
    assert last < 0.8 * first
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 51)) and all(r["tokens_per_s"] > 0 for r in rows)
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0

    # The model folder: diffusers layout, config round trip, EMA weights in transformer/.
    from patchflow.models.dit import DiT
    from patchflow.models.vae import load_vae

    for name in ("model_index.json", "config.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
                 "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
                 "transformer/config.json", "transformer/diffusion_pytorch_model.safetensors"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == "PatchflowPipeline"
    assert to_dict(read_model_config(folder)) == to_dict(cfg)
    dit = DiT.from_pretrained(folder / "transformer")
    ema = load_checkpoint(tmp_path / "run").tensors["ema"]
    for name, p in dit.named_parameters():
        assert torch.equal(p, ema[name]), name
    assert not torch.equal(dit.proj_out.weight, trainer.model.proj_out.weight)  # EMA, not the live weights
    vae = load_vae(folder)
    assert vae.latent_channels == cfg.dit.in_channels


def test_resume_continues_bit_identically(tmp_path, latent_cache):
    extra = ("train.steps=6", "train.ckpt_every=3", "train.keep_checkpoints=0")
    straight = Trainer(tiny_config(tmp_path / "a", latent_cache, *extra), show_progress=False)
    straight.fit()
    # A second run folder holding only the step-3 checkpoint, as if the first run had died after it.
    (tmp_path / "b" / "run" / "checkpoints").mkdir(parents=True)
    shutil.copytree(tmp_path / "a" / "run" / "checkpoints" / "step_00000003",
                    tmp_path / "b" / "run" / "checkpoints" / "step_00000003")
    resumed = Trainer(tiny_config(tmp_path / "b", latent_cache, *extra), resume=True, show_progress=False)
    assert resumed.step == 3
    resumed.fit()
    assert resumed.history == straight.history[3:]  # exact floats, not approximately
    a, b = (load_checkpoint(p / "run").tensors for p in (tmp_path / "a", tmp_path / "b"))
    for group in ("model", "ema"):
        for k in a[group]:
            assert torch.equal(a[group][k], b[group][k]), (group, k)


class NaNAtStep(Trainer):
    """Injects a NaN loss in the step that starts at `self.nan_step` and records weights around it."""

    nan_step = 2

    def micro_loss(self, batch, gen, noise_gen):
        loss = super().micro_loss(batch, gen, noise_gen)
        if self.step == self.nan_step:
            self.before = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return loss * float("nan")
        return loss

    def train_step(self):
        metrics = super().train_step()
        if self.step == self.nan_step:
            self.after = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return metrics


def test_nan_step_is_skipped_and_training_goes_on(tmp_path, latent_cache):
    trainer = NaNAtStep(tiny_config(tmp_path, latent_cache, "train.steps=5"), show_progress=False)
    trainer.fit()
    assert trainer.skipped == 1
    for k, v in trainer.before.items():
        assert torch.equal(v, trainer.after[k]), k  # the NaN step changed nothing
    losses = [loss for _, loss in trainer.history]
    assert len(losses) == 5 and losses[2] != losses[2] and all(x == x for i, x in enumerate(losses) if i != 2)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert rows[2]["skipped_in_window"] == 1 and rows[-1]["skipped_total"] == 1


def test_persistent_nan_stops_the_run(tmp_path, latent_cache):
    class AlwaysNaN(Trainer):
        def micro_loss(self, *args):
            return super().micro_loss(*args) * float("nan")

    from patchflow.train.trainer import NonFiniteLossError

    trainer = AlwaysNaN(tiny_config(tmp_path, latent_cache, "train.steps=5", "train.max_nonfinite_in_a_row=2"),
                        show_progress=False)
    with pytest.raises(NonFiniteLossError, match="3 steps in a row"):
        trainer.fit()
