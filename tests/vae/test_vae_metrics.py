"""PSNR/SSIM are right on known cases; `patchflow eval vae --json` measures a saved VAE."""

import json

import torch
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.eval.vae_metrics import heldout_world_videos, psnr, ssim
from patchflow.models.vae import CausalVAE
from patchflow.recipes import get_recipe


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
    assert row["oracle_facts"] > 0 and 0 <= row["oracle_retained"] <= 1
    missing = CliRunner().invoke(app, ["eval", "vae", "--model", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "holds no VAE" in " ".join(missing.output.split())


class _IdentityVAE:
    """A perfect codec: the oracle must keep every fact; a codec that paints one colour must lose them."""

    def __init__(self, flat: bool = False):
        self.flat = flat

    def encode(self, x, chunk_frames=None):
        return x

    def decode(self, z, chunk_frames=None):
        return z.mean(dim=(2, 3, 4), keepdim=True).expand_as(z) if self.flat else z


def test_oracle_retained_tells_a_perfect_codec_from_a_flat_one():
    from patchflow.eval.vae_metrics import evaluate_vae, heldout_world_samples

    cfg = get_recipe("world_tiny")
    videos, facts = map(list, zip(*heldout_world_samples(cfg, 4, temporal_factor=4, spatial_factor=4), strict=True))
    perfect = evaluate_vae(_IdentityVAE(), videos, facts=facts, fps=cfg.world.fps)
    flat = evaluate_vae(_IdentityVAE(flat=True), videos, facts=facts, fps=cfg.world.fps)
    assert perfect["oracle_retained"] == 1.0 and perfect["oracle_facts"] > 10
    assert flat["oracle_retained"] < 0.5


class _BlurLaterFrames:
    """Keeps frame 0 exact and blurs every later frame: the split must blame the grouped frames only."""

    def encode(self, x, chunk_frames=None):
        return x

    def decode(self, z, chunk_frames=None):
        later = torch.nn.functional.avg_pool3d(z[:, :, 1:], (1, 5, 5), stride=1, padding=(0, 2, 2))
        return torch.cat([z[:, :, :1], later], dim=2)


def test_psnr_split_between_first_and_grouped_frames():
    from patchflow.eval.vae_metrics import evaluate_vae, heldout_world_videos

    cfg = get_recipe("world_tiny")
    cfg.world.frames = [9]
    result = evaluate_vae(_BlurLaterFrames(), heldout_world_videos(cfg, 3, 4, 4))
    assert result["psnr_first_frame"] > 100  # exact (the PSNR of a zero error is capped, not infinite)
    assert result["psnr_grouped_frames"] < 40
