"""A debug model folder (random weights: the server's tests judge files and states, not pictures), small limits,
real media files, and an app per test over fresh job storage."""

from dataclasses import replace

import pytest
import torch
from fastapi.testclient import TestClient

from patchflow import media as video_io
from patchflow.models.dit import DiT
from patchflow.models.vae import CausalVAE
from patchflow.pipeline import Pipeline
from patchflow.recipes import get_recipe
from patchflow.serve import create_app, load_pipes
from patchflow.text import TextEncoder
from patchflow.world.render import render_scene
from patchflow.world.scene import sample_scene


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = get_recipe("debug")
    pipe = Pipeline(CausalVAE(cfg.vae).eval(), DiT(cfg.dit).eval(), TextEncoder(cfg.text), cfg)
    return pipe.save_pretrained(tmp_path_factory.mktemp("model") / "debug-model")


@pytest.fixture(scope="session")
def pipe(model_dir):
    return load_pipes(model_dir, ["cpu"])[0]


@pytest.fixture
def limits(pipe, tmp_path):
    """The debug recipe's limits, with this test's own outputs folder and database."""
    return replace(pipe.config.serve, outputs_dir=str(tmp_path / "outputs"), db_path=str(tmp_path / "jobs.sqlite"))


@pytest.fixture
def client(pipe, limits):
    """The app with its worker running (the lifespan starts it)."""
    with TestClient(create_app([pipe], limits)) as c:
        yield c


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """Real files: a 17-frame and a 9-frame mp4 and a PNG (32x32 world scenes), and a text file named .mp4."""
    import random

    folder = tmp_path_factory.mktemp("media")
    clips = {name: render_scene(sample_scene(random.Random(seed)), 32, 32, frames, 8, seed=seed)[0]
             for name, seed, frames in (("a", 7, 17), ("b", 11, 9), ("still", 3, 1))}
    return {
        "a": video_io.write_video(folder / "a.mp4", clips["a"], 8, pix_fmt="yuv420p").read_bytes(),
        "b": video_io.write_video(folder / "b.mp4", clips["b"], 8, pix_fmt="yuv420p").read_bytes(),
        "image": video_io.write_image(folder / "still.png", clips["still"][0]).read_bytes(),
        "text": b"this is not a video, whatever its name says\n" * 10,
    }
