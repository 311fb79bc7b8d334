"""Classifier-free guidance: scale 1 is no guidance, and the formula on batched branches."""

import torch

from patchflow.diffusion.guidance import cfg_model_fn


def _denoiser(calls):
    def denoiser(x, t, frame_mask, text, text_mask):
        calls.append(x.shape[0])
        # depends on the text (its masked mean) and on x, so cond and uncond differ
        weight = (text * text_mask[..., None]).sum(dim=(1, 2)) / text_mask.sum(dim=1).clamp(min=1)
        return x * 0.5 + weight.view(-1, 1, 1, 1, 1) + t.view(-1, 1, 1, 1, 1)

    return denoiser


def _inputs():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 2, 4, 4, generator=gen)
    t = torch.full((2,), 0.7)
    mask = torch.zeros(2, 2, dtype=torch.bool)
    cond = (torch.randn(1, 5, 8, generator=gen), torch.ones(1, 5, dtype=torch.bool))
    uncond = (torch.randn(1, 3, 8, generator=gen), torch.tensor([[True, False, False]]))
    return x, t, mask, cond, uncond


def test_scale_one_equals_no_guidance_exactly_with_one_model_call():
    x, t, mask, cond, uncond = _inputs()
    calls = []
    plain = _denoiser(calls)(x, t, mask, cond[0].expand(2, -1, -1), cond[1].expand(2, -1))
    guided = cfg_model_fn(_denoiser(calls), 1.0, cond, uncond)(x, t, mask)
    assert torch.equal(guided, plain)
    assert calls == [2, 2]  # no unconditional branch was run


def test_guidance_extrapolates_from_uncond_to_cond_in_one_batched_call():
    x, t, mask, cond, uncond = _inputs()
    calls = []
    d = _denoiser([])
    v_c = d(x, t, mask, cond[0].expand(2, -1, -1), cond[1].expand(2, -1))
    v_u = d(x, t, mask, uncond[0].expand(2, -1, -1), uncond[1].expand(2, -1))
    guided = cfg_model_fn(_denoiser(calls), 4.0, cond, uncond)(x, t, mask)
    assert calls == [4]  # cond and uncond batched: 2B
    assert torch.allclose(guided, v_u + 4.0 * (v_c - v_u), atol=1e-5)
    assert not torch.allclose(guided, v_c, atol=1e-3)
