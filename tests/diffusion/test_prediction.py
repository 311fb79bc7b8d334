"""x-prediction against v-prediction: the same sampler output from a perfect model either way, a loss that stays
finite and bounded at the ends of the path, and one loss scale for both where t >= 0.05."""

import pytest
import torch

from patchflow.diffusion.flow import X_PRED_T_MIN, add_noise, model_velocity, velocity_target
from patchflow.diffusion.flow_loss import rectified_flow_loss
from patchflow.diffusion.samplers import get_sampler, timesteps

MU, SIGMA = 0.7, 0.4  # data: x0 ~ N(MU, SIGMA^2) per element, so the perfect denoiser has a closed form


def posterior_means(xt: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(E[x0 | x_t], E[eps | x_t]) for Gaussian data on x_t = (1 - t) x0 + t eps, each from its own formula."""
    a = (1 - t).view(-1, 1, 1, 1, 1)
    b = t.view(-1, 1, 1, 1, 1)
    var = a * a * SIGMA**2 + b * b  # variance of x_t
    centred = xt - a * MU
    return MU + a * SIGMA**2 / var * centred, b / var * centred


def oracle(prediction: str):
    """A perfect model of the Gaussian data, as the sampler's model_fn, in the given parametrisation."""

    def model_fn(x, t, frame_mask):
        x0, eps = posterior_means(x.double(), t.double())
        out = (eps - x0) if prediction == "v" else x0
        t_latent = torch.where(frame_mask, 0.0, t[:, None].float())[:, None, :, None, None]  # (B, T) -> (B, 1, T, 1, 1)
        return model_velocity(out.float(), x, t_latent, prediction)

    return model_fn


@pytest.mark.parametrize("sampler", ["euler", "heun"])
@pytest.mark.parametrize("steps, shift", [(6, 1.0), (50, 1.0), (20, 3.0)])
def test_a_perfect_model_samples_the_same_in_both_parametrisations(sampler, steps, shift):
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(2, 3, 4, 5, 5, generator=gen)
    x_cond = torch.randn(2, 3, 4, 5, 5, generator=gen)
    held = torch.tensor([[True, False, False, False], [False, False, False, False]])  # frame 0 of sample 0 is given
    outs = {p: get_sampler(sampler)(oracle(p), noise.clone(), timesteps(steps, shift), held, x_cond, noise=noise)
            for p in ("v", "x")}
    assert torch.isfinite(outs["x"]).all()
    assert torch.allclose(outs["v"], outs["x"], atol=1e-4, rtol=1e-4)
    assert torch.equal(outs["x"][0, :, 0], x_cond[0, :, 0])  # the held frame stays the condition
    assert abs(outs["x"][1].std().item() - SIGMA) < 0.15  # and the free frames look like the data


class Fixed(torch.nn.Module):
    """A 'model' that outputs a given tensor (plus a trainable zero, so the loss has a gradient)."""

    def __init__(self, output: torch.Tensor):
        super().__init__()
        self.output = output
        self.zero = torch.nn.Parameter(torch.zeros(()))

    def forward(self, xt, t_tokens, text, text_mask):
        return self.output + self.zero


def loss_of(output, x0, eps, t, prediction):
    b, _, frames = x0.shape[:3]
    no_condition = torch.zeros(b, frames, dtype=torch.bool)
    text, mask = torch.zeros(b, 2, 4), torch.ones(b, 2, dtype=torch.bool)
    return rectified_flow_loss(Fixed(output), x0, eps, t, no_condition, text, mask, (frames, 2, 2), 1,
                               prediction=prediction)


def test_x_loss_is_finite_and_capped_at_both_ends_and_zero_at_the_truth():
    gen = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(2, 3, 2, 4, 4, generator=gen), torch.randn(2, 3, 2, 4, 4, generator=gen)
    guess = x0 + 0.1 * torch.randn(x0.shape, generator=gen)
    for t_value in (0.0, 1e-5, 1e-3, 1 - 1e-5, 1.0):
        t = torch.full((2,), t_value)
        loss = loss_of(guess, x0, eps, t, "x")
        loss.backward()
        x_error = (guess - x0).pow(2).mean()
        assert torch.isfinite(loss) and loss <= x_error / X_PRED_T_MIN**2 * (1 + 1e-4), t_value
        assert loss_of(x0, x0, eps, t, "x") < 1e-8, t_value  # the clamp keeps the optimum at x0_pred = x0
    assert torch.isfinite(loss_of(torch.zeros_like(x0), x0, eps, torch.full((2,), 1e-5), "v"))


def test_x_loss_equals_the_v_loss_of_the_implied_velocity_where_t_is_above_the_clamp():
    gen = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(3, 3, 2, 4, 4, generator=gen), torch.randn(3, 3, 2, 4, 4, generator=gen)
    guess = torch.randn(x0.shape, generator=gen)
    t = torch.tensor([X_PRED_T_MIN, 0.3, 0.95])
    xt = add_noise(x0, eps, t)
    implied_v = (xt - guess) / t.view(-1, 1, 1, 1, 1)
    assert torch.allclose(loss_of(guess, x0, eps, t, "x"), loss_of(implied_v, x0, eps, t, "v"), rtol=1e-4)
    # and a perfect v-model scores the same as a perfect x-model: zero
    assert loss_of(velocity_target(x0, eps), x0, eps, t, "v") < 1e-10
    assert loss_of(x0, x0, eps, t, "x") < 1e-8


def test_an_unknown_prediction_is_refused_with_the_choices():
    x = torch.zeros(1, 1, 1, 2, 2)
    with pytest.raises(ValueError, match="flow.prediction must be one of v, x"):
        model_velocity(x, x, torch.ones(1), "eps")
    with pytest.raises(ValueError, match="flow.prediction"):
        loss_of(x, x, x, torch.ones(1) * 0.5, "eps")
