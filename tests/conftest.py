"""Shared test setup: offline, small thread count, deterministic."""

import os
import random

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def fit_debug_vae(steps: int = 120, images: int = 8, clips: int = 2, size: int = 32, seed: int = 0):
    """The debug VAE fitted briefly to world stills and 9-frame clips (alternating steps), with latent
    mean/std measured on the stills.

    Downstream tests (trainer, pipeline, demo) need a VAE whose latents and pixels mean something: a random
    decoder paints high-frequency noise that no codec or frame-condition check can be judged on.
    """
    from patchflow.media import to_tensor
    from patchflow.models.vae import CausalVAE
    from patchflow.recipes import get_recipe
    from patchflow.train.optim import build_optimizer
    from patchflow.world.render import render_scene
    from patchflow.world.scene import sample_scene

    torch.manual_seed(seed)
    vae = CausalVAE(get_recipe("debug").vae)
    frames = [render_scene(sample_scene(random.Random(s)), size, size, 1, 8, seed=s)[0] for s in range(images)]
    x = torch.stack([to_tensor(f) for f in frames])  # (N, 3, 1, size, size)
    videos = [render_scene(sample_scene(random.Random(100 + s)), size, size, 9, 8, seed=s)[0] for s in range(clips)]
    v = torch.stack([to_tensor(f) for f in videos])  # (clips, 3, 9, size, size)
    opt = build_optimizer(vae, 3e-4, (0.9, 0.99), 0.0)
    for step in range(steps):
        batch = x if step % 2 == 0 else v
        recon, _, _ = vae(batch, sample=False)
        loss = (recon - batch).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    vae.eval()
    with torch.no_grad():
        mean, _ = vae.encode_posterior(x)  # (N, C, 1, h, w)
        vae.latent_mean.copy_(mean.mean(dim=(0, 2, 3, 4)))
        vae.latent_std.copy_(mean.std(dim=(0, 2, 3, 4)).clamp_min(1e-3))
    return vae


@pytest.fixture(scope="session")
def debug_vae_dir(tmp_path_factory):
    """A saved folder of `fit_debug_vae()`, for tests that load a VAE by path."""
    return fit_debug_vae().save_pretrained(tmp_path_factory.mktemp("debug_vae") / "vae")
