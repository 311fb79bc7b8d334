"""`patchflow vae reconstruct`: the round trip of a real file at its own size, with its PSNR beside it."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.eval.vae_reconstruct import padded_size, reconstruct
from patchflow.media import read_video, write_image, write_video
from patchflow.models.vae import CausalVAE
from patchflow.recipes import get_recipe
from patchflow.world.parser import parse_caption
from patchflow.world.render import render_scene
from patchflow.world.scene import complete

runner = CliRunner()


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("vae")
    CausalVAE(get_recipe("debug").vae).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 14-frame 54x38 world clip: no side fits the debug VAE (4x time, 4x space) as it is."""
    spec = complete(parse_caption("a large red box moves right on navy"), 0)
    frames, _ = render_scene(spec, 54, 38, 14, 8, 0)
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, frames, 8)
    return path


def test_padded_size_is_the_next_valid_size():
    assert padded_size(14, 38, 54, 4, 4) == (17, 40, 56)
    assert padded_size(17, 40, 56, 4, 4) == (17, 40, 56)
    assert padded_size(1, 31, 9, 4, 8) == (1, 32, 16)


def test_identity_vae_gives_back_the_input():
    """Padding and cropping lose nothing: a VAE that changes nothing returns the input exactly."""
    class Identity:
        temporal_factor, spatial_factor = 4, 8

        def encode(self, video, chunk_frames=None):
            assert (video.shape[2] - 1) % 4 == 0 and video.shape[3] % 8 == 0 and video.shape[4] % 8 == 0
            return video

        def decode(self, z, chunk_frames=None):
            return z

    frames = np.random.default_rng(0).integers(0, 256, (6, 21, 13, 3), dtype=np.uint8)
    out, metrics = reconstruct(Identity(), frames)
    assert np.array_equal(out, frames)
    assert metrics["psnr"] > 100 and metrics["padded_to"] == [9, 24, 16]


def test_video_round_trip_writes_video_json_and_sheet(vae_dir, clip, tmp_path):
    out = tmp_path / "rec.mp4"
    result = runner.invoke(app, ["vae", "reconstruct", str(clip), "--model", str(vae_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frames, fps = read_video(out)
    source, _ = read_video(clip)
    assert frames.shape == source.shape == (14, 38, 54, 3) and fps == 8.0
    report = json.loads(out.with_suffix(".json").read_text())
    diff = (frames.astype(np.float64) - source.astype(np.float64)) / 255.0
    # the JSON's PSNR is that of the written frames against the input (H.264 at crf 12 moves it a little)
    assert report["psnr"] == pytest.approx(-10 * np.log10(np.mean(diff**2)), abs=1.0)
    assert report["padded_to"] == [17, 40, 56] and report["frames"] == 14
    assert (tmp_path / "rec_sheet.png").is_file()


def test_image_round_trip(vae_dir, tmp_path):
    image = tmp_path / "still.png"
    frames, _ = render_scene(complete(parse_caption("a small blue ball on gray"), 1), 30, 22, 1, 8, 1)
    write_image(image, frames[0])
    out = tmp_path / "still_rec.png"
    result = runner.invoke(app, ["vae", "reconstruct", str(image), "--model", str(vae_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    got, _ = read_video(out)
    assert got.shape == (1, 22, 30, 3)
    assert json.loads(out.with_suffix(".json").read_text())["psnr"] > 0


@pytest.mark.parametrize("args, message", [
    (["missing.mp4", "--out", "x.mp4"], "no such file"),
    (["CLIP", "--out", "x.png"], "name the output with one of"),
    (["CLIP", "--out", "x.mp4", "--chunk-frames", "6"], "multiple of the VAE's temporal factor"),
])
def test_bad_input_is_one_clear_line(vae_dir, clip, tmp_path, args, message):
    args = [str(clip) if a == "CLIP" else str(tmp_path / a) if a.startswith(("x.", "missing")) else a for a in args]
    result = runner.invoke(app, ["vae", "reconstruct", *args, "--model", str(vae_dir)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
