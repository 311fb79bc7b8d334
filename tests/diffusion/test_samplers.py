"""Samplers: exactness on straight paths, the shifted grid, and held frames."""

import pytest
import torch

from patchflow.diffusion.samplers import euler, get_sampler, heun, timesteps


def test_grid_runs_from_one_to_zero_and_shift_spends_steps_near_noise():
    plain, shifted = timesteps(10, 1.0), timesteps(10, 4.0)
    for ts in (plain, shifted):
        assert ts[0] == 1.0 and ts[-1] == 0.0 and len(ts) == 11
        assert bool((ts[1:] < ts[:-1]).all())
    assert torch.allclose(plain, torch.linspace(1, 0, 11, dtype=plain.dtype))
    assert bool((shifted[1:-1] > plain[1:-1]).all())  # shift > 1 keeps every inner point noisier


def test_grid_for_sdedit_starts_at_strength_and_keeps_the_full_step_sizes():
    full = timesteps(10, 3.0)
    tail = timesteps(10, 3.0, start=0.5)
    assert tail[0] == 0.5 and tail[-1] == 0.0
    assert torch.equal(tail[1:], full[full < 0.5])
    assert timesteps(10, 3.0, start=0.0).tolist() == [0.0]


@pytest.mark.parametrize("name", ["euler", "heun"])
def test_constant_velocity_field_is_integrated_exactly(name):
    # On the straight path x_t = (1 - t) x0 + t eps the velocity eps - x0 is constant: any step count lands on x0.
    gen = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 3, 4, 5, 6, generator=gen), torch.randn(2, 3, 4, 5, 6, generator=gen)
    calls = []

    def model_fn(x, t, frame_mask):
        calls.append(t)
        return eps - x0

    out = get_sampler(name)(model_fn, eps.clone(), timesteps(3, 2.5))
    assert torch.allclose(out, x0, atol=1e-5)
    assert len(calls) == (3 if name == "euler" else 5)  # Heun: 2 calls a step, Euler on the last


def test_heun_is_exact_for_linear_in_t_velocity_where_euler_is_not():
    # v(t) = a + b t: trapezoid integration is exact for linear integrands, the Euler rule is not.
    a, b = torch.full((1, 1, 1, 1, 1), 0.3), torch.full((1, 1, 1, 1, 1), 2.0)

    def model_fn(x, t, frame_mask):
        return a + b * t.view(-1, 1, 1, 1, 1)

    x1 = torch.zeros(1, 1, 1, 1, 1)
    exact = x1 - (a + b / 2)  # x(0) = x(1) - integral_0^1 v dt
    ts = torch.tensor([1.0, 0.5, 0.25, 0.1, 0.0], dtype=torch.float64)
    ts_no_last = ts[:-1]  # Heun falls back to Euler at t_next = 0; compare on [1, 0.1]
    exact_01 = x1 - (a * 0.9 + b * (1 - 0.01) / 2)
    assert torch.allclose(heun(model_fn, x1, ts_no_last), exact_01, atol=1e-6)
    assert not torch.allclose(euler(model_fn, x1, ts), exact, atol=1e-2)


def test_held_frames_stay_clean_get_mask_and_free_frames_move():
    x_cond = torch.randn(1, 2, 3, 4, 4)
    mask = torch.tensor([[True, False, False]])
    seen = []

    def model_fn(x, t, frame_mask):
        seen.append((x[:, :, 0].clone(), frame_mask.clone()))
        return torch.ones_like(x)

    noise = torch.randn(1, 2, 3, 4, 4)
    out = euler(model_fn, noise.clone(), timesteps(4, 1.0), mask, x_cond)
    assert torch.equal(out[:, :, 0], x_cond[:, :, 0])
    assert all(torch.equal(x0, x_cond[:, :, 0]) and torch.equal(m, mask) for x0, m in seen)
    assert torch.allclose(out[:, :, 1:], noise[:, :, 1:] - 1.0, atol=1e-6)  # moved by dt * v over t in [1, 0]


def test_soft_keyframe_is_held_early_and_released_into_the_flow():
    x_cond, noise = torch.full((1, 1, 2, 1, 1), 5.0), torch.zeros(1, 1, 2, 1, 1)
    strength = torch.tensor([[0.5, 0.0]])
    masks = []

    def model_fn(x, t, frame_mask):
        masks.append((float(t[0]), bool(frame_mask[0, 0]), float(x[0, 0, 0])))
        return torch.zeros_like(x)

    euler(model_fn, noise.clone(), timesteps(4, 1.0), strength, x_cond, noise=noise)
    held = {t: (h, v) for t, h, v in masks}
    assert held[1.0] == (True, 5.0) and held[0.75] == (True, 5.0)
    # released at t = 0.5: it re-enters as (1 - t) x_cond + t * noise = 2.5
    assert held[0.5][0] is False and held[0.5][1] == pytest.approx(2.5)


def test_callback_sees_every_step_and_may_replace_latents():
    steps = []

    def callback(info):
        steps.append(info["i"])
        return torch.zeros_like(info["x"]) if info["i"] == 1 else None

    out = euler(lambda x, t, m: torch.ones_like(x), torch.randn(1, 1, 1, 2, 2), timesteps(3), callback=callback)
    assert steps == [0, 1, 2]
    assert torch.allclose(out, torch.full_like(out, -1 / 3), atol=1e-6)  # zeroed at t = 1/3, then one step of -1/3
