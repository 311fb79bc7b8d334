"""Rectified flow: noising, targets, inversion, time sampling and the token-count shift."""

import math

import pytest
import torch

from patchflow.config import FlowConfig
from patchflow.diffusion.conditioning import latent_t
from patchflow.diffusion.flow import (
    add_noise,
    eps_from_velocity,
    flow_loss,
    sample_t,
    shift_for_tokens,
    shift_t,
    velocity_target,
    x0_from_velocity,
)


def _pair(shape=(2, 3, 4, 5, 6)):
    g = torch.Generator().manual_seed(0)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def test_noising_endpoints_and_midpoint():
    x0, eps = _pair()
    assert torch.equal(add_noise(x0, eps, torch.zeros(2)), x0)
    assert torch.equal(add_noise(x0, eps, torch.ones(2)), eps)
    assert torch.allclose(add_noise(x0, eps, torch.full((2,), 0.25)), 0.75 * x0 + 0.25 * eps, atol=1e-6)
    # per-sample t goes with its sample
    xt = add_noise(x0, eps, torch.tensor([0.0, 1.0]))
    assert torch.equal(xt[0], x0[0]) and torch.equal(xt[1], eps[1])


def test_per_frame_time_keeps_conditioned_frames_clean():
    x0, eps = _pair()
    mask = torch.tensor([[True, False, False, False], [False, False, False, True]])
    xt = add_noise(x0, eps, latent_t(torch.tensor([0.6, 0.9]), mask))
    assert torch.equal(xt[0, :, 0], x0[0, :, 0]) and torch.equal(xt[1, :, 3], x0[1, :, 3])
    assert torch.allclose(xt[0, :, 1], 0.4 * x0[0, :, 1] + 0.6 * eps[0, :, 1], atol=1e-6)


def test_velocity_inverts_to_x0_and_eps():
    x0, eps = _pair()
    for t in (torch.rand(2), latent_t(torch.rand(2), torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0]]).bool())):
        xt = add_noise(x0, eps, t)
        v = velocity_target(x0, eps)
        assert torch.allclose(v, eps - x0)
        assert torch.allclose(x0_from_velocity(xt, v, t), x0, atol=1e-5)
        assert torch.allclose(eps_from_velocity(xt, v, t), eps, atol=1e-5)


def test_shift_grows_with_tokens_and_is_capped():
    cfg = FlowConfig(shift_base=1.0, shift_base_tokens=256, shift_max=4.0)
    assert shift_for_tokens(256, cfg) == pytest.approx(1.0)
    assert shift_for_tokens(1024, cfg) == pytest.approx(2.0)  # sqrt(4)
    shifts = [shift_for_tokens(n, cfg) for n in (16, 64, 256, 1024, 4096, 65536, 10**6)]
    assert shifts == sorted(shifts) and shifts[-1] == 4.0 and shifts[0] < 1.0
    with pytest.raises(ValueError):
        shift_for_tokens(0, cfg)


def test_shift_t_is_monotone_and_fixes_the_ends():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    for s in (0.5, 1.0, 3.0, 8.0):
        ts = shift_t(t, s)
        assert ts[0] == 0 and ts[-1] == 1 and (ts[1:] > ts[:-1]).all()
    assert torch.allclose(shift_t(t, 1.0), t)
    assert (shift_t(t[1:-1], 3.0) > t[1:-1]).all()  # s > 1 moves toward noise
    assert shift_t(0.5, 3.0) == pytest.approx(0.75)


def test_logit_normal_t_in_open_interval_and_shifted():
    g = torch.Generator().manual_seed(0)
    cfg = FlowConfig(logit_mean=0.0, logit_std=1.0, shift_base=1.0, shift_base_tokens=256, shift_max=8.0)
    t = sample_t(20000, 256, cfg, g)
    assert t.shape == (20000,) and (t > 0).all() and (t < 1).all()
    assert abs(t.median().item() - 0.5) < 0.02  # sigmoid(N(0, 1)) has median 1/2
    logit = torch.log(t / (1 - t))
    assert abs(logit.std().item() - 1.0) < 0.05
    # 4x the tokens: shift 2; the median moves to shift_t(0.5, 2) = 2/3
    t4 = sample_t(20000, 1024, cfg, g)
    assert abs(t4.median().item() - 2 / 3) < 0.02
    extreme = sample_t(1000, 256, FlowConfig(logit_std=50.0), g)
    assert (extreme > 0).all() and (extreme < 1).all()


def test_flow_loss_covers_free_frames_only():
    v, target = _pair()
    mask = torch.tensor([[True, False, False, False], [False, False, False, False]])
    base = flow_loss(v, target, mask)
    v2 = v.clone()
    v2[0, :, 0] += 100.0  # a conditioned frame: no loss there
    assert torch.equal(flow_loss(v2, target, mask), base)
    v3 = v.clone()
    v3[0, :, 1] += 1.0
    assert flow_loss(v3, target, mask) > base
    assert math.isclose(flow_loss(v, target).item(), (v - target).pow(2).mean().item(), rel_tol=1e-6)
