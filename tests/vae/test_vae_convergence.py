"""A debug-size VAE overfits a few fixed world images quickly (guards the init against the mean-colour plateau).

With PyTorch's default conv init the image signal shrank ~50x through the plain convs, the per-pixel norms
squashed it under the bias terms and the reconstruction stayed one flat colour (L1 ~0.3) for hundreds of steps.
"""

import random

import torch

from patchflow.media import to_tensor
from patchflow.models.vae import CausalVAE
from patchflow.recipes import get_recipe
from patchflow.train.optim import build_optimizer
from patchflow.world.render import render_scene
from patchflow.world.scene import sample_scene

STEPS = 60
MAX_L1 = 0.12


def world_images(n: int, size: int) -> torch.Tensor:
    frames = [render_scene(sample_scene(random.Random(s)), size, size, 1, 8, seed=s)[0] for s in range(n)]
    return torch.stack([to_tensor(f) for f in frames])  # (n, 3, 1, size, size) in [-1, 1]


def test_debug_vae_overfits_world_images():
    torch.manual_seed(0)
    vae = CausalVAE(get_recipe("debug").vae)
    x = world_images(8, 32)
    opt = build_optimizer(vae, 3e-4, (0.9, 0.99), 0.0)
    for _ in range(STEPS):
        recon, _, _ = vae(x, sample=False)
        loss = (recon - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
    with torch.no_grad():
        l1 = (vae(x, sample=False)[0].clamp(-1, 1) - x).abs().mean().item()
    assert l1 < MAX_L1, f"L1 {l1:.3f} after {STEPS} steps: stuck near the mean-colour plateau (~0.3)?"
