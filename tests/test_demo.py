"""`patchflow demo`: every mode with a model folder, and the world gallery without one."""

import dataclasses
import re
import time

import pytest
import torch
from typer.testing import CliRunner

from patchflow import demo
from patchflow.cli import app
from patchflow.media import read_image, read_video

runner = CliRunner()
MODES = {"text-to-video", "text-to-image", "image-to-video", "extend forward", "extend backward", "loop",
         "video-to-video", "connect"}


def small(item: demo.Item) -> demo.Item:
    """The same item at a tiny size and length, so the test runs in seconds."""
    size = "32x32" if item.size == "64x64" else "40x24"
    frames = 9 if item.frames == 17 else item.frames
    inputs = tuple(dataclasses.replace(m, frames=min(m.frames, 9)) for m in item.inputs)
    return dataclasses.replace(item, size=size, frames=frames, inputs=inputs)


def expected_frames(item: demo.Item) -> int:
    """Output length by mode, from the docs (docs/generate.md), not from the code under test."""
    lengths = [m.frames for m in item.inputs]
    return {"extend forward": lengths[0] + item.frames if lengths else 0,
            "extend backward": lengths[0] + item.frames if lengths else 0,
            "connect": sum(lengths) + item.frames,
            "video-to-video": lengths[0] if lengths else 0}.get(item.mode, item.frames)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from patchflow.models.dit import DiT
    from patchflow.models.vae import CausalVAE
    from patchflow.pipeline import Pipeline
    from patchflow.recipes import get_recipe
    from patchflow.text import TextEncoder

    torch.manual_seed(0)
    cfg = get_recipe("debug")
    pipe = Pipeline(CausalVAE(cfg.vae).eval(), DiT(cfg.dit).eval(), TextEncoder(cfg.text), cfg)
    return pipe.save_pretrained(tmp_path_factory.mktemp("model") / "debug-model")


def test_demo_items_cover_every_mode_with_valid_sizes():
    assert {item.mode for item in demo.ITEMS} == MODES
    assert len({item.name for item in demo.ITEMS}) == len(demo.ITEMS)
    for item in demo.ITEMS:
        width, height = (int(v) for v in item.size.split("x"))
        assert width % 8 == 0 and height % 8 == 0  # world-tiny: VAE spatial factor 4 x patch 2
        expected_inputs = {"image-to-video": 1, "loop": 1, "extend forward": 1, "extend backward": 1,
                           "video-to-video": 1, "connect": 2}.get(item.mode, 0)
        assert len(item.inputs) == expected_inputs
        demo.parse_caption(item.prompt)  # the oracle can read every prompt


def test_demo_generates_every_mode_and_a_page(tmp_path, model_dir, monkeypatch):
    items = [small(item) for item in demo.ITEMS]
    monkeypatch.setattr(demo, "ITEMS", items)
    start = time.perf_counter()
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--model", str(model_dir), "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 60
    assert "total" in result.output and "missing" not in result.output

    page = (tmp_path / "index.html").read_text()
    assert page.count('<section class="card">') == len(items)
    for item in items:
        assert item.mode in page and item.prompt in page
        if item.frames == 1 and not item.inputs:  # text-to-image: a PNG
            assert read_image(tmp_path / f"{item.name}.png").shape == (32, 32, 3)
            assert f'src="{item.name}.png"' in page
        else:
            frames, fps = read_video(tmp_path / f"{item.name}.mp4")
            width, height = (int(v) for v in item.size.split("x"))
            assert frames.shape == (expected_frames(item), height, width, 3), item.name
            assert fps == demo.FPS
            assert (tmp_path / f"{item.name}.gif").stat().st_size > 0
            assert f'src="{item.name}.mp4"' in page and f'src="{item.name}.gif"' in page
        assert (tmp_path / f"{item.name}_sheet.png").is_file() and f'src="{item.name}_sheet.png"' in page
        for k, media in enumerate(item.inputs):  # inputs are real files, shown beside the output
            suffix = ".png" if media.frames == 1 else ".mp4"
            path = tmp_path / "inputs" / f"{item.name}_{k}{suffix}"
            assert f'src="inputs/{path.name}"' in page
            if suffix == ".mp4":
                assert read_video(path)[0].shape[0] == media.frames
            else:
                assert read_image(path).ndim == 3
    # the command line equivalent names the inputs and mode flags
    assert page.count("patchflow generate") == len(items)
    assert "--extend forward" in page and "--extend backward" in page and "--loop" in page
    assert "--strength 0.6" in page and page.count("--video") >= 5
    assert len(re.findall(r"world oracle: <b>(\d+%|n/a)", page)) == len(items)
    # the input video's frames survive extension: its last frame is in the output (VAE not involved)
    fwd = next(i for i in items if i.mode == "extend forward")
    source, _ = read_video(tmp_path / "inputs" / f"{fwd.name}_0.mp4")
    out, _ = read_video(tmp_path / f"{fwd.name}.mp4")
    assert abs(out[:len(source)].astype(int) - source.astype(int)).mean() < 4


def test_demo_without_a_model_renders_the_world_gallery(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "GALLERY_FRAMES", 9)
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--model", str(tmp_path / "absent")])
    assert result.exit_code == 0, result.output
    assert "missing" in result.output and "make world-model" in result.output
    page = (tmp_path / "index.html").read_text()
    videos = sorted(tmp_path.glob("*.mp4"))
    assert len(videos) == page.count("<video") == len(demo.GALLERY)
    for video in videos:
        assert video.with_suffix(".gif").exists() and (tmp_path / f"{video.stem}_sheet.png").exists()
        assert f'src="{video.name}"' in page
    frames, _ = read_video(videos[0])
    width, height = (int(v) for v in demo.GALLERY[0][1].split("x"))
    assert frames.shape == (9, height, width, 3)
    for caption, _size in demo.GALLERY:
        assert caption.split(".")[0] in page
