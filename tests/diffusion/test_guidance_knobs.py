"""Guidance interval and autoguidance: [0, 1] is plain guidance, an interval no step falls in is the conditional
model, a guide equal to the model is the conditional model; and the guide loads from every kind of folder."""

import dataclasses

import pytest
import torch

from patchflow.diffusion.guidance import cfg_model_fn, check_interval, load_guide_transformer
from patchflow.diffusion.samplers import get_sampler, timesteps


def text_denoiser(calls, gain=1.0):
    """Depends on x, t and the text (its masked mean), so conditional, unconditional and guide all differ."""

    def denoiser(x, t, frame_mask, text, text_mask):
        calls.append((x.shape[0], float(t[0])))
        weight = (text * text_mask[..., None]).sum(dim=(1, 2)) / text_mask.sum(dim=1).clamp(min=1)
        return gain * (x * 0.5 + weight.view(-1, 1, 1, 1, 1)) + t.view(-1, 1, 1, 1, 1)

    return denoiser


def inputs():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 2, 4, 4, generator=gen)
    cond = (torch.randn(1, 5, 8, generator=gen), torch.ones(1, 5, dtype=torch.bool))
    uncond = (torch.randn(1, 3, 8, generator=gen), torch.tensor([[True, False, False]]))
    return x, cond, uncond


def sample(model_fn, x, sampler="heun"):
    return get_sampler(sampler)(model_fn, x.clone(), timesteps(8, 2.0))


@pytest.mark.parametrize("sampler", ["euler", "heun"])
def test_the_full_interval_is_plain_guidance_to_the_bit(sampler):
    x, cond, uncond = inputs()
    plain = sample(cfg_model_fn(text_denoiser([]), 4.0, cond, uncond), x, sampler)
    full = sample(cfg_model_fn(text_denoiser([]), 4.0, cond, uncond, interval=[0.0, 1.0]), x, sampler)
    assert torch.equal(plain, full)


@pytest.mark.parametrize("interval", [(0.0, 0.0), (2.0, 3.0)])
def test_an_interval_no_step_falls_in_is_the_conditional_model(interval):
    x, cond, uncond = inputs()
    calls = []
    empty = sample(cfg_model_fn(text_denoiser(calls), 4.0, cond, uncond, interval=interval), x)
    conditional = sample(cfg_model_fn(text_denoiser([]), 1.0, cond, uncond), x)
    assert torch.equal(empty, conditional)
    assert {b for b, _ in calls} == {2}  # no unconditional branch was ever run
    assert not torch.equal(conditional, sample(cfg_model_fn(text_denoiser([]), 4.0, cond, uncond), x))


def test_guidance_applies_only_inside_the_interval():
    x, cond, uncond = inputs()
    calls = []
    sample(cfg_model_fn(text_denoiser(calls), 4.0, cond, uncond, interval=(0.3, 0.8)), x, "euler")
    for batch, t in calls:
        assert batch == (4 if 0.3 <= t <= 0.8 else 2), t  # guided steps run cond and uncond as one batch
    assert {b for b, _ in calls} == {2, 4}
    t = torch.tensor([0.2, 0.5])  # one sample in, one out: each gets its own prediction
    fn = cfg_model_fn(text_denoiser([]), 4.0, cond, uncond, interval=(0.3, 0.8))
    mixed = fn(x, t, torch.zeros(2, 2, dtype=torch.bool))
    guided = cfg_model_fn(text_denoiser([]), 4.0, cond, uncond)(x, t, torch.zeros(2, 2, dtype=torch.bool))
    conditional = cfg_model_fn(text_denoiser([]), 1.0, cond)(x, t, torch.zeros(2, 2, dtype=torch.bool))
    assert torch.equal(mixed[0], conditional[0]) and torch.equal(mixed[1], guided[1])


def test_autoguidance_by_the_model_itself_is_the_conditional_model():
    x, cond, uncond = inputs()
    model = text_denoiser([])
    self_guided = sample(cfg_model_fn(model, 4.0, cond, uncond, guide=model), x)
    assert torch.equal(self_guided, sample(cfg_model_fn(model, 1.0, cond), x))


def test_autoguidance_extrapolates_from_the_weak_model_on_the_same_text():
    x, cond, _ = inputs()
    strong, weak = text_denoiser([]), text_denoiser([], gain=0.5)
    t, mask = torch.full((2,), 0.6), torch.zeros(2, 2, dtype=torch.bool)
    text, text_mask = cond[0].expand(2, -1, -1), cond[1].expand(2, -1)
    v_s, v_w = strong(x, t, mask, text, text_mask), weak(x, t, mask, text, text_mask)
    guided = cfg_model_fn(strong, 3.0, cond, None, guide=weak)(x, t, mask)
    assert torch.allclose(guided, v_w + 3.0 * (v_s - v_w), atol=1e-6)


def test_bad_intervals_are_refused():
    for bad in ([0.8, 0.2], [0.5], [0.1, 0.2, 0.3]):
        with pytest.raises(ValueError, match="guidance_interval"):
            check_interval(bad)
    assert check_interval([0, 1]) == (0.0, 1.0)


def test_the_guide_loads_from_a_dit_folder_a_checkpoint_and_refuses_a_misfit(tmp_path):
    from patchflow.models.dit import DiT
    from patchflow.recipes import get_recipe
    from patchflow.train.checkpoint import save_checkpoint

    cfg = get_recipe("debug").dit
    torch.manual_seed(0)
    strong, weak = DiT(cfg), DiT(cfg)
    torch.nn.init.normal_(weak.proj_out.weight, std=0.1)
    weak.save_pretrained(tmp_path / "weak")
    ema = {k: v + 1.0 for k, v in weak.named_parameters()}  # EMA weights differ from the raw ones
    folder = save_checkpoint(tmp_path / "run", 5, {"model": weak.state_dict(), "ema": ema}, {"step": 5})
    from_dit = load_guide_transformer(tmp_path / "weak", strong)
    from_ema = load_guide_transformer(folder, strong)
    from_raw = load_guide_transformer(folder, strong, weights="model")
    for name, p in weak.state_dict().items():
        assert torch.equal(from_dit.state_dict()[name], p) and torch.equal(from_raw.state_dict()[name], p)
    assert torch.equal(from_ema.proj_out.weight, weak.proj_out.weight + 1.0)
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        load_guide_transformer(tmp_path / "nothing", strong)
    DiT(dataclasses.replace(cfg, in_channels=8)).save_pretrained(tmp_path / "odd")
    with pytest.raises(ValueError, match="dit.in_channels"):
        load_guide_transformer(tmp_path / "odd", strong)
