"""Model + objective: the debug DiT fits a fixed tiny batch under the rectified-flow loss."""

import pytest
import torch

from patchflow.config import FlowConfig
from patchflow.diffusion.conditioning import latent_t, random_frame_mask, tokens_t
from patchflow.diffusion.flow import add_noise, flow_loss, sample_t, velocity_target
from patchflow.models.dit import DiT, dit_config


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matmuls: one thread is as fast, and far faster when other processes share the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_debug_dit_flow_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    model = DiT(dit_config("debug", in_channels=4, text_dim=32))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    B, T = 4, 3
    x0 = torch.randn(B, 4, T, 8, 8, generator=g)
    eps = torch.randn(B, 4, T, 8, 8, generator=g)
    text = torch.randn(B, 6, 32, generator=g)
    text_mask = torch.ones(B, 6, dtype=torch.bool)
    grid = model.grid(x0.shape)
    n = grid[0] * grid[1] * grid[2]
    cfg = FlowConfig()
    t = sample_t(B, n, cfg, g)
    frames = random_frame_mask(B, T, {"none": 0.5, "first": 0.5}, g)
    xt = add_noise(x0, eps, latent_t(t, frames))
    target = velocity_target(x0, eps)
    tt = tokens_t(t, frames, grid, 1)
    losses = []
    for _ in range(50):
        loss = flow_loss(model(xt, tt, text, text_mask), target, frames)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 1.5  # |eps - x0|^2 ~ 2 for a model that starts at v = 0
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0], losses
