"""`patchflow generate` refuses what it cannot do before any compute, writes what --out names, says what it
does to inputs, shows progress when piped, and writes the same bytes for the same frames."""

import os
import random

import av
import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from patchflow import media as video_io
from patchflow.cli import app
from patchflow.commands import generate
from patchflow.pipeline import Pipeline, memory
from patchflow.world.render import render_scene
from patchflow.world.scene import sample_scene

runner = CliRunner()


def flat(text: str) -> str:
    """Output without whitespace: rich wraps long lines at the console's width."""
    return "".join(text.split())


def world_clip(seed: int, frames: int, width: int = 32, height: int = 32) -> np.ndarray:
    """uint8 (T, H, W, 3): a rendered world scene."""
    return render_scene(sample_scene(random.Random(seed)), width, height, frames, 8, seed=seed)[0]


def run(*args):
    return runner.invoke(app, ["generate", "--prompt", "a red ball moves right", "--steps", "2", *map(str, args)])


@pytest.fixture
def loaded(monkeypatch, pipe, model_dir):
    """The debug model as the default folder, loaded once."""
    monkeypatch.setattr(generate, "DEFAULT_MODEL", str(model_dir))
    monkeypatch.setattr(generate.Pipeline, "from_pretrained", classmethod(lambda cls, path, device="cpu": pipe))
    return pipe


@pytest.fixture
def never_sampled(monkeypatch, loaded):
    """Fail the test if the model ever samples (the error must come first)."""
    def sample(*args, **kwargs):
        raise AssertionError("sampled before refusing")

    monkeypatch.setattr(Pipeline, "__call__", sample)
    return loaded


# ----------------------------------------------------------------------------- refused before any compute


@pytest.mark.parametrize(
    "args, message",
    [
        (("--steps", 0), "--steps must be at least 1, got 0"),
        (("--seconds", 0), "--seconds must be a positive length, got 0"),
        (("--seconds", -2), "--seconds must be a positive length, got -2"),
        (("--fps", -8), "--fps must be a positive number of frames per second, got -8"),
        (("--fps", 0), "--fps must be a positive number of frames per second, got 0"),
        (("--window", -1), "--window is latent frames per sliding window: at least 2"),
        (("--window", 1), "--window is latent frames per sliding window: at least 2"),
        (("--device", "foo"), "--device 'foo' is not a device"),
        (("--out", "{tmp}"), "is a folder; name a file in it"),
        (("--out", "{tmp}/a_file/x.mp4"), "a_file is a file, so no folder can be made there"),
        (("--out", "{tmp}/x.avi"), ".avi is not written"),
    ],
)
def test_bad_options_fail_before_the_model_is_loaded(monkeypatch, tmp_path, args, message):
    def load(cls, path, device="cpu"):
        raise AssertionError("loaded the model before refusing")

    monkeypatch.setattr(generate.Pipeline, "from_pretrained", classmethod(load))
    (tmp_path / "a_file").write_text("a file, not a folder")
    argv = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    out = [] if "--out" in argv else ["--out", str(tmp_path / "x.mp4")]
    result = run(*argv, *out)
    assert result.exit_code == 2 and flat(message) in flat(result.output), result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_cpu_only_machine_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(generate.Pipeline, "from_pretrained", None)  # never reached
    for device in ("cuda", "cuda:1"):
        result = run("--device", device, "--out", tmp_path / "x.mp4")
        assert result.exit_code == 2, result.output
        assert flat(f"--device {device}: CUDA is not available here") in flat(result.output)
        assert flat("use --device cpu (or auto)") in flat(result.output) and "Traceback" not in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_read_only_folder_is_refused_before_sampling(never_sampled, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        result = run("--frames", 9, "--out", folder / "x.mp4")
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2 and flat(f"cannot write in {folder}") in flat(result.output), result.output


def test_a_png_for_a_video_is_refused_before_sampling(never_sampled, tmp_path):
    result = run("--frames", 9, "--out", tmp_path / "x.png")
    assert result.exit_code == 2, result.output
    assert flat("this makes a video of 9 frames; name an .mp4 or .gif") in flat(result.output)
    assert not list(tmp_path.iterdir())


def test_a_request_beyond_memory_stops_with_the_estimate_and_the_levers(never_sampled, tmp_path):
    result = run("--size", "4096x4096", "--frames", 10001, "--out", tmp_path / "big.mp4")
    text = flat(result.output)
    assert result.exit_code == 2, result.output
    assert flat("4096x4096 with 10001 frames needs about") in text and flat("is free; use fewer frames") in text
    assert "TB" in text  # 10001 frames of 4096x4096 RGB are 0.5 TB as bytes alone


def test_the_memory_check_compares_the_estimate_to_what_is_free(never_sampled, monkeypatch, tmp_path):
    need = memory.estimate(never_sampled, 9, 32, 32, 9, never_sampled.config.sample.guidance).total()
    monkeypatch.setattr(memory, "available", lambda device: (need // 2, need // 2))
    result = run("--frames", 9, "--size", "32x32", "--out", tmp_path / "x.mp4")
    assert result.exit_code == 2 and flat(f"but {memory.human(need // 2)} is free") in flat(result.output)


def test_the_estimate_follows_size_frames_and_windows(pipe, monkeypatch):
    def total(frames, size=64, window=0):
        monkeypatch.setattr(pipe.config.sample, "window_latent_frames", window)
        return memory.estimate(pipe, frames, size, size, frames, 3.0)

    def work(estimate, phase):
        return getattr(estimate, phase) - memory.WORKSPACE

    small, long_, big = total(17), total(65), total(17, size=128)
    assert work(long_, "output") > 3 * work(small, "output")
    assert work(big, "sampling") > 3 * work(small, "sampling") and work(big, "decoding") > 3 * work(small, "decoding")
    windowed = total(129, window=5)
    assert windowed.sampling == total(17, window=5).sampling  # a window's tokens, however long the video
    assert work(windowed, "sampling") < work(total(129), "sampling") / 3
    assert windowed.output == total(129).output  # the finished video is whole either way
    # the 4096x4096, 10001-frame request: the output alone is 42 bytes per output pixel
    assert memory.estimate(pipe, 10001, 4096, 4096, 10001, 3.0).output > 42 * 10001 * 4096**2


# ----------------------------------------------------------------------------- what is written


def test_steps_zero_is_an_error_in_the_pipeline_too(pipe):
    with pytest.raises(ValueError, match="num_inference_steps must be at least 1, got 0"):
        pipe("a red ball", height=32, width=32, num_frames=9, num_inference_steps=0)


def test_window_of_one_is_an_error_in_the_pipeline(pipe, monkeypatch):
    """A window of one latent frame holds context only: it would extend by nothing, forever."""
    monkeypatch.setattr(pipe.config.sample, "window_latent_frames", 1)
    monkeypatch.setattr(pipe, "_generate", lambda *args: pytest.fail("sampled before refusing"))
    with pytest.raises(ValueError, match="window_latent_frames must be 0"):
        pipe("a red ball", height=32, width=32, num_frames=17, num_inference_steps=1)


def test_gif_out_writes_a_gif_of_the_video(loaded, tmp_path):
    result = run("--frames", 9, "--size", "48x32", "--out", tmp_path / "x.gif")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.gif"]
    with Image.open(tmp_path / "x.gif") as im:
        assert (im.format, im.n_frames, im.size) == ("GIF", 9, (48, 32))


def test_seconds_always_make_a_video(loaded, tmp_path):
    result = run("--seconds", 0.1, "--out", tmp_path / "short.mp4")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.mp4"]
    frames, _ = video_io.read_video(tmp_path / "short.mp4")
    assert len(frames) == 5  # 1 + r_t: the shortest video


def test_connecting_clips_of_another_size_says_so(loaded, world_video_file, tmp_path):
    other = video_io.write_video(tmp_path / "wide.mp4", world_clip(5, 9, width=48), 8, pix_fmt="yuv420p")
    result = run("--video", world_video_file[0], "--video", other, "--frames", 4, "--out", tmp_path / "joined.mp4")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert flat(f"note: --video {other} is 48x32, the output 32x32: it is centre-cropped to 32x32") in text
    assert flat(f"note: --video {world_video_file[0]}") not in text  # the first clip has the output's size


def test_progress_is_printed_as_lines_when_piped(loaded, monkeypatch, tmp_path):
    monkeypatch.setattr(loaded, "progress", True)
    result = runner.invoke(app, ["generate", "--prompt", "a ball", "--steps", "20", "--frames", "5", "--size",
                                 "32x32", "--out", str(tmp_path / "x.mp4")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("denoising: step")]
    assert [line.split()[2] for line in lines] == [f"{k}/20," for k in range(2, 21, 2)]


def test_switches_are_shown_as_switches():
    command = typer.main.get_command(app).commands["generate"]
    switches = [p for p in command.params if getattr(p, "is_flag", False) and p.name != "help"]
    assert {p.name for p in switches} >= {"gif", "sheet", "loop"}
    help_text = runner.invoke(app, ["generate", "--help"], env={"COLUMNS": "200"}).output
    for param in switches:  # a switch takes no value, so its row shows none ("<bool>" reads as "--gif true")
        row = next(line for line in help_text.splitlines() if f" {param.opts[0]} " in line)
        assert "<bool>" not in row and "a switch" in row, row


# ----------------------------------------------------------------------------- the files themselves


def test_the_same_frames_give_the_same_mp4_however_many_cpus_the_encoder_sees(tmp_path):
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2:
        pytest.skip("needs two CPUs to see the encoder's thread count change")
    rng = np.random.default_rng(0)
    frames = np.clip(rng.integers(0, 255, (1, 128, 160, 3)) + np.arange(17)[:, None, None, None] * 5, 0, 255)
    frames = frames.astype(np.uint8)  # (17, 128, 160, 3): big enough that x264 threads split the work
    try:
        os.sched_setaffinity(0, {min(cpus)})  # x264's automatic thread count follows the CPUs it may use
        one_cpu = video_io.write_video(tmp_path / "one.mp4", frames, 8, pix_fmt="yuv420p").read_bytes()
    finally:
        os.sched_setaffinity(0, cpus)
    every_cpu = video_io.write_video(tmp_path / "all.mp4", frames, 8, pix_fmt="yuv420p").read_bytes()
    again = video_io.write_video(tmp_path / "again.mp4", frames, 8, pix_fmt="yuv420p").read_bytes()
    assert one_cpu == every_cpu == again


def test_a_writer_that_fails_leaves_the_old_file_and_no_half_written_one(monkeypatch, tmp_path):
    # 60 frames, the crash at the 55th: x264 holds back its first ~40 frames (lookahead), so by then the file
    # has been opened and packets written into it
    frames = np.concatenate([world_clip(2, 9)] * 7)[:60]  # (60, 32, 32, 3)
    path = video_io.write_video(tmp_path / "x.mp4", frames, 8)
    before = path.read_bytes()
    made = [0]

    class CrashingAv:
        """PyAV whose 55th frame fails, as a full disk or a killed process would stop the encoder."""
        open = staticmethod(av.open)

        class VideoFrame:
            @staticmethod
            def from_ndarray(*args, **kwargs):
                made[0] += 1
                if made[0] % 55 == 0:
                    raise OSError("disk full")
                return av.VideoFrame.from_ndarray(*args, **kwargs)

    monkeypatch.setattr(video_io, "av", CrashingAv)
    with pytest.raises(OSError, match="disk full"):
        video_io.write_video(path, frames[::-1].copy(), 8)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]
    with pytest.raises(OSError, match="disk full"):
        video_io.write_video(tmp_path / "new.mp4", frames, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]


def test_words_outside_the_world_get_a_notice(loaded, tmp_path):
    """A world model asked for a colour it never saw says so (and still generates); a world prompt stays quiet."""
    result = runner.invoke(app, ["generate", "--prompt", "a purple ball on a white background", "--steps", "2",
                                 "--frames", "1", "--size", "32x32", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "notice:" in text and "purple" in text and "white" in text
    quiet = run("--frames", 1, "--size", "32x32", "--out", tmp_path / "y.png")
    assert quiet.exit_code == 0 and "notice:" not in flat(quiet.output)
