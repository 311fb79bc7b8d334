"""The VAE ceiling: the truth through an identity VAE scores exactly the truth, through a VAE that loses the
picture it scores lower, a real (random) CausalVAE folder runs through `patchflow eval world --through-vae`,
and misuse fails clearly."""

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from patchflow.commands.eval_world import world
from patchflow.eval.vae_ceiling import check_fits, through_vae
from patchflow.eval.world_bench import run_world_bench, truth_generator
from patchflow.eval.world_prompts import select


class IdentityVAE:
    """A stand-in with the VAE contract whose latent is the video itself."""

    def encode(self, video, chunk_frames=None):
        return video

    def decode(self, z, chunk_frames=None):
        return z


class BlankingVAE(IdentityVAE):
    """Decodes every latent to a black video: nothing of the scene survives."""

    def decode(self, z, chunk_frames=None):
        return torch.full_like(z, -1.0)


def per_sample(result):
    return [{k: v for k, v in asdict(s).items() if k != "generate_s"} for s in result.samples]


def test_truth_through_an_identity_vae_is_the_truth(tmp_path):
    truth = run_world_bench(truth_generator(), 2, tmp_path / "truth", progress=False)
    ceiling = run_world_bench(through_vae(truth_generator(), IdentityVAE(), chunk_frames=None), 2,
                              tmp_path / "ceiling", progress=False)
    assert per_sample(ceiling) == per_sample(truth)
    p = select(1, categories=("pong",))[0]
    args = (p.text, p.width, p.height, p.num_frames, p.fps, 3)
    assert np.array_equal(through_vae(truth_generator(), IdentityVAE(), None)(*args), truth_generator()(*args))


def test_a_vae_that_loses_the_picture_lowers_the_ceiling(tmp_path):
    blank = run_world_bench(through_vae(truth_generator(), BlankingVAE(), None), 1, tmp_path, progress=False,
                            categories=("color", "background"))
    assert blank.overall < 0.5
    assert all(s.failed for s in blank.samples)


def test_check_fits_names_the_size_and_the_factor():
    check_fits(select(8, long=True), temporal_factor=8, spatial_factor=16)  # every bench size fits 8x time, 16x space
    with pytest.raises(ValueError, match=r"collisions-0 is 80x48, not a multiple of the VAE's spatial factor 32"):
        check_fits(select(1, categories=("color", "collisions")), temporal_factor=4, spatial_factor=32)
    with pytest.raises(ValueError, match=r"color-0 has 17 frames, not 1 \+ 3k for the VAE's temporal factor 3"):
        check_fits(select(1, categories=("color",)), temporal_factor=3, spatial_factor=4)


def cli():
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so `world` is a subcommand as under `patchflow eval`
    app.command("world")(world)
    return app


def test_cli_through_a_real_tiny_vae_runs_end_to_end(tmp_path):
    from patchflow.models.vae import CausalVAE
    from patchflow.recipes import get_recipe

    torch.manual_seed(0)
    cfg = get_recipe("debug").vae
    assert 1 + cfg.chunk_frames < 17  # the 17-frame clips stream in chunks, as the 60 s samples do
    CausalVAE(cfg).save_pretrained(tmp_path / "model" / "vae")
    out = tmp_path / "bench"
    # a model folder holding vae/ (the VAE folder itself works the same: vae_folder finds either)
    result = CliRunner().invoke(cli(), ["world", "--model", "world-truth", "--through-vae", str(tmp_path / "model"),
                                        "--category", "color", "--n-per-category", "1", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "summary.json").read_text())
    assert data["model"] == f"world-truth through {tmp_path / 'model' / 'vae'}"
    assert [s["id"] for s in data["samples"]] == ["color-0"] and data["categories"]["color"]["judged"] > 0
    assert data["overall"] < 0.99  # a random VAE garbles the truth: the ceiling is not the truth's score
    assert (out / "sheets" / "color.png").is_file()


def test_cli_through_vae_misuse_is_a_clear_usage_error(tmp_path):
    model = tmp_path / "some-model"
    model.mkdir()
    result = CliRunner().invoke(cli(), ["world", "--model", str(model), "--through-vae", str(model),
                                        "--out", str(tmp_path)])
    assert result.exit_code == 2 and "needs --model world-truth" in " ".join(result.output.split())
    result = CliRunner().invoke(cli(), ["world", "--model", "world-truth", "--through-vae", str(tmp_path / "nope"),
                                        "--out", str(tmp_path)])
    assert result.exit_code == 2 and "holds no VAE" in " ".join(result.output.split())
