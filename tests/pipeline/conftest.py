"""A debug model trained for a few steps on world frames, saved as a model folder (once per session)."""

import random

import numpy as np
import pytest
import torch

from patchflow import media as video_io
from patchflow.diffusion.conditioning import random_frame_mask
from patchflow.diffusion.flow import sample_t
from patchflow.diffusion.flow_loss import rectified_flow_loss
from patchflow.models.dit import DiT
from patchflow.models.vae import CausalVAE
from patchflow.pipeline import Pipeline
from patchflow.recipes import get_recipe
from patchflow.text import TextEncoder
from patchflow.world.captions import make_prompt
from patchflow.world.render import render_scene
from patchflow.world.scene import sample_scene

WIDTH, HEIGHT, FRAMES, FPS = 32, 32, 9, 8


def world_clips(n: int, seed: int = 0, frames: int = FRAMES, width: int = WIDTH, height: int = HEIGHT):
    """n rendered world scenes: uint8 (n, T, H, W, 3) and their prompts."""
    rng = random.Random(seed)
    clips, prompts = [], []
    for i in range(n):
        spec = sample_scene(rng)
        video, _ = render_scene(spec, width, height, frames, FPS, seed=seed + i)
        clips.append(video)
        prompts.append(make_prompt(spec, rng))
    return np.stack(clips), prompts


def train_few_steps(pipe: Pipeline, steps: int = 25, seed: int = 0) -> None:
    """Flow-matching steps on world clips with random frame masks: enough to leave the zero-velocity init."""
    cfg = pipe.config
    gen = torch.Generator().manual_seed(seed)
    clips, prompts = world_clips(8, seed)
    video = torch.stack([video_io.to_tensor(c) for c in clips])  # (B, 3, T, H, W)
    with torch.no_grad():
        x0 = pipe.vae.encode(video)
        text, text_mask = pipe.text_encoder(prompts)
    model = pipe.transformer.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    grid = model.grid(x0.shape)
    for _ in range(steps):
        t = sample_t(x0.shape[0], grid[0] * grid[1] * grid[2], cfg.flow, gen)
        mask = random_frame_mask(x0.shape[0], x0.shape[2], cfg.flow.cond_mix, gen)
        eps = torch.randn(x0.shape, generator=gen)
        loss = rectified_flow_loss(model, x0, eps, t, mask, text, text_mask, grid, cfg.dit.patch_size[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, debug_vae_dir):
    torch.manual_seed(0)
    cfg = get_recipe("debug")
    pipe = Pipeline(CausalVAE.from_pretrained(debug_vae_dir).eval(), DiT(cfg.dit), TextEncoder(cfg.text), cfg)
    train_few_steps(pipe)
    return pipe.save_pretrained(tmp_path_factory.mktemp("model") / "debug-model")


@pytest.fixture(scope="session")
def pipe(model_dir):
    p = Pipeline.from_pretrained(model_dir)
    p.progress = False
    return p


@pytest.fixture(scope="session")
def world_video_file(tmp_path_factory):
    """A real mp4 of a world scene (17 frames, 32x32, 12 fps) and its decoded frames."""
    clips, _ = world_clips(1, seed=7, frames=17)
    path = video_io.write_video(tmp_path_factory.mktemp("media") / "world.mp4", clips[0], 12, pix_fmt="yuv420p")
    return path, video_io.read_video(path)[0]


@pytest.fixture(scope="session")
def second_video_file(tmp_path_factory):
    clips, _ = world_clips(1, seed=11, frames=9)
    path = video_io.write_video(tmp_path_factory.mktemp("media") / "other.mp4", clips[0], FPS, pix_fmt="yuv420p")
    return path, video_io.read_video(path)[0]


@pytest.fixture(scope="session")
def image_file(tmp_path_factory):
    clips, _ = world_clips(1, seed=3, frames=1)
    path = video_io.write_image(tmp_path_factory.mktemp("media") / "start.png", clips[0][0])
    return path, clips[0][0]

