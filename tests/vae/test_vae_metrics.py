"""PSNR/SSIM are right on known cases; `patchflow eval vae --json` measures a saved VAE."""

import json

import torch
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.eval.vae_metrics import heldout_world_videos, psnr, ssim
from patchflow.models.vae import CausalVAE
from recipes import get_recipe


def test_psnr_and_ssim_known_values():
    x = torch.rand(3, 5, 16, 16) * 2 - 1
    assert abs(psnr(x + 0.2, x) - 20.0) < 1e-3  # error 0.1 on the [0, 1] scale -> 20 dB
    assert abs(ssim(x, x) - 1.0) < 1e-6
    assert ssim(x, torch.rand(3, 5, 16, 16) * 2 - 1) < 0.2


def test_heldout_videos_fit_the_vae():
    cfg = get_recipe("world_tiny")
    videos = heldout_world_videos(cfg, 5, temporal_factor=4, spatial_factor=4)
    assert [v.shape[1] for v in videos] == [1, 9, 17, 33, 1]
    assert all(v.shape[2] % 4 == 0 and v.shape[3] % 4 == 0 for v in videos)
    assert videos[1].shape[2:] == (52, 96)  # "96x54" (W x H) cropped to H 52, W 96


def test_eval_vae_command(tmp_path):
    cfg = get_recipe("debug").vae
    cfg.base_width = 8
    CausalVAE(cfg).save_pretrained(tmp_path / "model" / "vae")  # a model folder holding vae/
    result = CliRunner().invoke(app, ["eval", "vae", "--model", str(tmp_path / "model"), "--recipe", "debug",
                                      "--n", "2", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["samples"] == 2 and 0 < row["psnr"] < 60 and row["encode_fps"] > 0
    missing = CliRunner().invoke(app, ["eval", "vae", "--model", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "holds no VAE" in " ".join(missing.output.split())
