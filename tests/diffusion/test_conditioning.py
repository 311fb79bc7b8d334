"""Frame-condition masks, per-token and per-frame times, text dropout."""

import pytest
import torch

from patchflow.config import FlowConfig
from patchflow.diffusion.conditioning import (
    KINDS,
    choose_kinds,
    drop_text,
    kind_mask,
    latent_t,
    random_frame_mask,
    tokens_t,
    validate_cond_mix,
)


def test_mix_frequencies_match_cond_mix():
    mix = FlowConfig().cond_mix
    g = torch.Generator().manual_seed(0)
    kinds = choose_kinds(20000, mix, g)
    total = sum(mix.values())
    for k in KINDS:
        assert abs(kinds.count(k) / 20000 - mix[k] / total) < 0.015, k
    # the masks themselves: exactly the "none" samples are unconditioned (T >= 2 always keeps >= 1 free frame)
    masks = random_frame_mask(4000, 5, mix, torch.Generator().manual_seed(1))
    assert masks.shape == (4000, 5) and masks.dtype == torch.bool
    assert abs((~masks.any(1)).float().mean().item() - mix["none"] / total) < 0.03
    assert (~masks).any(1).all()  # every sample keeps a free frame to learn from


def test_none_must_be_at_least_0_4():
    with pytest.raises(ValueError, match="'none'.*>= 0.4"):
        validate_cond_mix({"none": 0.3, "first": 0.7})
    with pytest.raises(ValueError, match="unknown mask kind"):
        validate_cond_mix({"none": 1.0, "middle": 0.1})
    assert validate_cond_mix({"none": 2.0, "first": 2.0}) == pytest.approx(
        {"none": 0.5, "first": 0.5, "first_k": 0, "last_k": 0, "first_last": 0, "random": 0}
    )


def test_each_kind_builds_its_mask():
    g = torch.Generator().manual_seed(0)
    assert kind_mask("first", 5).tolist() == [True, False, False, False, False]
    assert kind_mask("first_last", 5).tolist() == [True, False, False, False, True]
    for _ in range(50):
        fk = kind_mask("first_k", 6, g)
        k = int(fk.sum())
        assert 1 <= k <= 5 and fk[:k].all() and not fk[k:].any()
        lk = kind_mask("last_k", 6, g)
        k = int(lk.sum())
        assert 1 <= k <= 5 and lk[6 - k :].all() and not lk[: 6 - k].any()
        r = kind_mask("random", 6, g)
        assert r.any() and not r.all()
    for kind in KINDS:  # an image (one latent frame) is never conditioned
        assert not kind_mask(kind, 1, g).any()


def test_tokens_t_and_latent_t():
    t = torch.tensor([0.3, 0.8])
    mask = torch.tensor([[True, False, False], [False, False, True]])
    lt = latent_t(t, mask)
    assert lt.shape == (2, 1, 3, 1, 1)
    assert torch.allclose(lt.flatten(1), torch.tensor([[0.0, 0.3, 0.3], [0.8, 0.8, 0.0]]))
    tt = tokens_t(t, mask, (3, 2, 4), 1)  # 3 latent frames of 2 x 4 tokens
    assert tt.shape == (2, 24)
    assert (tt[0, :8] == 0).all() and (tt[0, 8:] == 0.3).all()
    assert (tt[1, :16] == 0.8).all() and (tt[1, 16:] == 0).all()
    # p_t = 2: a token is clean only if both of its latent frames are
    mask4 = torch.tensor([[True, True, True, False]])
    tt2 = tokens_t(torch.tensor([0.5]), mask4, (2, 1, 2), 2)
    assert tt2.tolist() == [[0.0, 0.0, 0.5, 0.5]]
    with pytest.raises(ValueError):
        tokens_t(t, mask, (2, 2, 4), 1)


def test_drop_text_rate():
    g = torch.Generator().manual_seed(0)
    prompt, empty = torch.ones(10000, 3, 2), (torch.zeros(1, 5, 2), torch.zeros(1, 5, dtype=torch.bool))
    out, mask = drop_text(prompt, torch.ones(10000, 3, dtype=torch.bool), empty, 0.1, g)
    dropped = (out == 0).all(dim=(1, 2))  # (B,)
    assert abs(dropped.float().mean().item() - 0.1) < 0.015
    assert torch.equal(dropped, ~mask.any(dim=1)) and bool(((out == 0) | (out == 1)).all())  # whole prompts only
    x, x_mask = torch.ones(2, 3, 2), torch.ones(2, 3, dtype=torch.bool)
    assert drop_text(x, x_mask, empty, 0.0, g)[0].eq(1).all() and drop_text(x, x_mask, empty, 1.0, g)[0].eq(0).all()
