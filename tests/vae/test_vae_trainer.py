"""VAE training on the debug recipe: the loss falls, a stopped run resumes bit-identically."""

import json
import re

import pytest
import torch

from patchflow.models.vae import CausalVAE, load_vae
from patchflow.recipes import resolve
from patchflow.train.vae_trainer import train_vae

SMALL = [
    "vae.base_width=8", "world.n=8", 'world.sizes=["32x32"]', "data.buckets.max_batch=4",
    "vae_train.log_every=1", "vae_train.warmup_steps=2", "vae_train.stats_batches=2", "vae_train.lr=0.003",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("world")  # rendered once, shared by the runs below


def config(out_dir, data_dir, *extra):
    return resolve("debug", [*SMALL, f"train.out_dir={out_dir}", f"data.cache_dir={data_dir}", *extra])


def test_training_lowers_loss_and_saves_vae(tmp_path, data_dir):
    cfg = config(tmp_path / "run", data_dir, "vae_train.steps=16", "vae_train.sheet_every=8")
    summary = train_vae(cfg)
    losses = summary["losses"]
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < 0.8 * sum(losses[:4]) / 4, losses
    vae = load_vae(tmp_path / "run")  # a run folder holding vae/ loads like a model folder
    assert isinstance(vae, CausalVAE)
    assert not torch.equal(vae.latent_std, torch.ones_like(vae.latent_std))  # measured on training data
    assert list((tmp_path / "run" / "vae_train" / "sheets").glob("*.png"))
    rows = [json.loads(line) for line in (tmp_path / "run" / "vae_train" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 16 and "l1" in rows[-1]


def test_resume_is_bit_identical(tmp_path, data_dir):
    extra = ["vae_train.steps=6", "vae_train.disc_start=2", "vae_train.disc_width=8"]
    whole = train_vae(config(tmp_path / "a", data_dir, *extra))["losses"]
    cfg = config(tmp_path / "b", data_dir, *extra)
    first = train_vae(cfg, stop_after=3)
    assert first["vae_dir"] is None and first["losses"] == whole[:3]
    rest = train_vae(cfg, resume=True)["losses"]
    assert rest == whole[3:]  # exactly equal floats: same batches, noise, optimizer and discriminator state


def test_vae_train_command(tmp_path, data_dir):
    from typer.testing import CliRunner

    from patchflow.cli import app

    sets = [*SMALL, f"train.out_dir={tmp_path / 'run'}", f"data.cache_dir={data_dir}", "vae_train.steps=2"]
    args = ["vae", "train", "--recipe", "debug"] + [a for s in sets for a in ("--set", s)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "vae" / "diffusion_pytorch_model.safetensors").exists()
    bad = CliRunner().invoke(app, ["vae", "train", "--set", "vae_train.nope=1"])
    assert bad.exit_code == 2 and "vae_train.nope" in " ".join(bad.output.split())


def test_random_crop_cuts_one_valid_window_from_every_sample():
    from patchflow.train.vae_trainer import random_crop

    torch.manual_seed(0)
    video = torch.arange(2 * 3 * 17 * 40 * 24, dtype=torch.float32).view(2, 3, 17, 40, 24)
    for _ in range(20):
        crop = random_crop(video, 9, 18, temporal_factor=4, spatial_factor=4)
        assert crop.shape == (2, 3, 9, 16, 16)  # 18 rounds down to the spatial factor
        # the crop is a contiguous window: find its origin from the first element and compare
        t0, rest = divmod(int(crop[0, 0, 0, 0, 0].item()), 40 * 24)
        y0, x0 = divmod(rest, 24)
        assert torch.equal(crop, video[:, :, t0:t0 + 9, y0:y0 + 16, x0:x0 + 16])
    # a dimension smaller than the window stays whole (frames keep 1 + k * r_t); 0 leaves it alone
    assert random_crop(video[:, :, :7], 9, 64, 4, 4).shape == (2, 3, 5, 40, 24)
    assert random_crop(video, 0, 0, 4, 4).shape == video.shape


@pytest.mark.parametrize("setting, message", [
    ("vae_train.crop_frames=8", "1 + k * 4"), ("vae_train.crop_size=2", "at least 4")])
def test_bad_crop_is_named(tmp_path, data_dir, setting, message):
    from patchflow.train.vae_trainer import VAETraining

    cfg = config(tmp_path / "run", data_dir, setting)
    with pytest.raises(ValueError, match=re.escape(message)):
        VAETraining(cfg, [])


def test_cropped_training_resumes_bit_identically(tmp_path, data_dir):
    # crops draw from torch's global generator: its state must travel in the checkpoint
    extra = ["vae_train.steps=4", "vae_train.crop_frames=5", "vae_train.crop_size=16", "vae_train.token_budget=256"]
    whole = train_vae(config(tmp_path / "a", data_dir, *extra))["losses"]
    cfg = config(tmp_path / "b", data_dir, *extra)
    assert train_vae(cfg, stop_after=2)["losses"] == whole[:2]
    assert train_vae(cfg, resume=True)["losses"] == whole[2:]
