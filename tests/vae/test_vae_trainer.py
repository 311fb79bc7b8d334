"""VAE training on the debug recipe: the loss falls, a stopped run resumes bit-identically."""

import json

import pytest
import torch

from patchflow.config import resolve
from patchflow.models.vae import CausalVAE, load_vae
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
