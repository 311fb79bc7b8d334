"""`patchflow generate` on real files: every mode writes a valid mp4 (or PNG) of the right shape."""

import av
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from patchflow import media as video_io
from patchflow.cli import app
from patchflow.commands import generate

runner = CliRunner()


def psnr(a, b) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def run(*args):
    return runner.invoke(app, ["generate", "--prompt", "a red ball moves right", "--steps", "2", *map(str, args)])


def probe(path):
    """(frames, width, height, fps, codec, pix_fmt) as FFmpeg reads the file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, stream.width, stream.height, float(stream.average_rate), stream.codec_context.name, stream.pix_fmt


def reconstruct(pipe, frames):
    with torch.no_grad():
        return video_io.to_frames(pipe.vae.decode(pipe.vae.encode(video_io.to_tensor(frames)[None]))[0])


@pytest.fixture
def loaded(monkeypatch, pipe, model_dir):
    """The debug model as the default folder, loaded once (from_pretrained itself runs in the first test)."""
    monkeypatch.setattr(generate, "DEFAULT_MODEL", str(model_dir))
    monkeypatch.setattr(generate.Pipeline, "from_pretrained", classmethod(lambda cls, path, device="cpu": pipe))
    return pipe


def test_text_to_video_mp4_gif_sheet_and_the_same_seed_twice(model_dir, tmp_path):
    out = tmp_path / "t2v.mp4"
    args = ("--model", model_dir, "--size", "48x32", "--frames", 9, "--fps", 10, "--seed", 3)
    result = run(*args, "--out", out, "--gif", "--sheet")
    assert result.exit_code == 0, result.output
    frames, w, h, fps, codec, pix_fmt = probe(out)
    assert (len(frames), w, h, fps, codec, pix_fmt) == (9, 48, 32, 10.0, "h264", "yuv420p")
    assert (tmp_path / "t2v.gif").is_file() and video_io.read_image(tmp_path / "t2v_sheet.png").ndim == 3
    assert run(*args, "--out", tmp_path / "again.mp4").exit_code == 0
    assert np.array_equal(probe(tmp_path / "again.mp4")[0], frames)
    assert run(*args[:-1], 4, "--out", tmp_path / "other.mp4").exit_code == 0
    assert not np.array_equal(probe(tmp_path / "other.mp4")[0], frames)


def test_one_frame_is_a_png(loaded, tmp_path):
    result = run("--size", "64x32", "--frames", 1, "--out", tmp_path / "still.mp4")
    assert result.exit_code == 0, result.output
    assert video_io.read_image(tmp_path / "still.png").shape == (32, 64, 3)


def test_image_to_video_starts_with_the_image(loaded, image_file, tmp_path):
    path, image = image_file
    assert run("--image", path, "--frames", 9, "--out", tmp_path / "i2v.mp4").exit_code == 0
    frames, w, h, fps, *_ = probe(tmp_path / "i2v.mp4")
    assert (len(frames), w, h, fps) == (9, 32, 32, 8.0)  # size from the image, fps from the model
    assert psnr(frames[0], reconstruct(loaded, image[None])[0]) >= 28.0  # 30 dB before H.264 (test_pipeline)


def test_extend_forward_and_backward_keep_the_input(loaded, world_video_file, tmp_path):
    path, source = world_video_file
    assert run("--video", path, "--extend", "forward", "--frames", 8, "--out", tmp_path / "fwd.mp4").exit_code == 0
    frames, w, h, fps, *_ = probe(tmp_path / "fwd.mp4")
    assert (len(frames), w, h, fps) == (17 + 8, 32, 32, 12.0)  # size and fps from the input
    assert psnr(frames[:17], source) >= 30.0
    result = run("--video", path, "--extend", "backward", "--seconds", 0.75, "--out", tmp_path / "bwd.mp4")
    assert result.exit_code == 0, result.output
    frames = probe(tmp_path / "bwd.mp4")[0]
    assert len(frames) == 9 + 17 and psnr(frames[9:], source) >= 30.0  # 0.75 s at 12 fps -> 9 = 1 + 4 * 2 frames


def test_connect_puts_a_transition_between_two_videos(loaded, world_video_file, second_video_file, tmp_path):
    (path_a, a), (path_b, b) = world_video_file, second_video_file
    result = run("--video", path_a, "--video", path_b, "--frames", 8, "--out", tmp_path / "join.mp4")
    assert result.exit_code == 0, result.output
    frames = probe(tmp_path / "join.mp4")[0]
    assert len(frames) == 17 + 8 + 9
    assert psnr(frames[:17], a) >= 30.0 and psnr(frames[-9:], b) >= 30.0


def test_loop_seam_is_no_bigger_than_a_step_between_frames(loaded, tmp_path):
    assert run("--loop", "--frames", 13, "--size", "32x32", "--out", tmp_path / "loop.mp4").exit_code == 0
    frames = probe(tmp_path / "loop.mp4")[0].astype(np.float64)
    assert len(frames) == 13
    steps = [np.abs(frames[i + 1] - frames[i]).mean() for i in range(len(frames) - 1)]
    seam = np.abs(frames[-1] - frames[0]).mean()
    # The loop opens on the image (an image latent) and closes on it (a still-group latent). The test VAE is
    # fitted for seconds, so it decodes those two encodings of one image a little differently: that gap,
    # measured on a still video of the first frame, is the VAE's, not the sampler's, and is allowed on top.
    still = reconstruct(loaded, np.repeat(frames[:1].astype(np.uint8), 13, axis=0)).astype(np.float64)
    vae_seam = np.abs(still[-1] - still[0]).mean()
    assert seam <= np.mean(steps) + vae_seam, f"seam {seam:.1f}, steps {np.mean(steps):.1f}, VAE {vae_seam:.1f}"


def test_video_to_video_at_strength_zero_returns_the_input(loaded, world_video_file, tmp_path):
    path, source = world_video_file
    assert run("--video", path, "--strength", 0, "--out", tmp_path / "v2v.mp4").exit_code == 0
    frames = probe(tmp_path / "v2v.mp4")[0]
    # the reconstruction through the same H.264 settings: lossy coding of a random VAE's noisy output
    # costs more than 30 dB's worth, so compare like with like
    expected = video_io.write_video(tmp_path / "recon.mp4", reconstruct(loaded, source), 12, pix_fmt="yuv420p")
    assert len(frames) == 17 and psnr(frames, probe(expected)[0]) >= 40.0
    changed = run("--video", path, "--strength", 0.8, "--out", tmp_path / "v2v_08.mp4")
    assert changed.exit_code == 0 and psnr(probe(tmp_path / "v2v_08.mp4")[0], probe(expected)[0]) < 40.0


@pytest.mark.parametrize(
    "args, message",
    [
        (("--size", "30x33"), "nearest valid size: 32x32"),
        (("--frames", 10), "nearest valid: 9 or 13"),
        (("--image", "no/such.png"), "no such file"),
        (("--video", "{bad}", "--extend", "forward"), "cannot decode"),
        (("--video", "{bad}"), "choose what to do"),
        (("--extend", "sideways"), "forward or backward"),
    ],
)
def test_clear_errors(loaded, tmp_path, args, message):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    result = run(*[str(a).replace("{bad}", str(bad)) for a in args], "--out", tmp_path / "x.mp4")
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_missing_model_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(generate, "DEFAULT_MODEL", "models/nothing-here")
    result = run("--out", tmp_path / "x.mp4")
    assert result.exit_code == 2 and "models/nothing-here" in result.output
    result = run("--model", tmp_path, "--out", tmp_path / "x.mp4")
    assert result.exit_code == 2 and "no model_index.json" in result.output
