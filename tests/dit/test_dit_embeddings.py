"""Patches, 3D RoPE and the attention backends."""

import pytest
import torch

from patchflow.models.dit.attention import attention, bind
from patchflow.models.dit.embeddings import (
    apply_rope,
    patch_grid,
    patchify,
    rope_axes,
    rope_freqs,
    unpatchify,
)


@pytest.mark.parametrize("shape,patch", [((2, 4, 3, 6, 10), (1, 2, 2)), ((1, 3, 4, 6, 9), (2, 3, 3)), ((1, 2, 1, 5, 7), (1, 1, 1))])
def test_patchify_round_trip_on_odd_grids(shape, patch):
    x = torch.randn(shape)
    tokens = patchify(x, patch)
    T, H, W = shape[2:]
    assert tokens.shape == (shape[0], (T // patch[0]) * (H // patch[1]) * (W // patch[2]), shape[1] * patch[0] * patch[1] * patch[2])
    assert torch.equal(unpatchify(tokens, patch_grid(shape, patch), patch), x)


def test_token_order_is_t_h_w():
    x = torch.randn(1, 2, 3, 4, 5)
    tokens = patchify(x, (1, 1, 1))  # (1, 60, 2)
    t, h, w = 2, 1, 3
    assert torch.equal(tokens[0, t * 20 + h * 5 + w], x[0, :, t, h, w])


def test_grid_not_divisible_names_the_sizes():
    with pytest.raises(ValueError, match=r"W=9 % 2") as e:
        patchify(torch.randn(1, 4, 3, 6, 9), (1, 2, 2))
    assert "(3, 6, 9)" in str(e.value) and "(1, 2, 2)" in str(e.value)


def test_rope_axes_split_the_head_dim():
    for d in (16, 32, 64, 72, 128):
        dt, dh, dw = rope_axes(d)
        assert dt + dh + dw == d and dt % 2 == dh % 2 == dw % 2 == 0 and dh == dw > 0
    with pytest.raises(ValueError):
        rope_axes(15)


def _scores(q, k, freqs):
    qr, kr = apply_rope(q, freqs), apply_rope(k, freqs)  # (1, N, H, Dh)
    return torch.einsum("bnhd,bmhd->bhnm", qr.double(), kr.double())


def test_rope_scores_invariant_to_shifting_the_whole_grid():
    torch.manual_seed(0)
    grid, dh = (3, 4, 5), 32
    q, k = torch.randn(1, 60, 2, dh), torch.randn(1, 60, 2, dh)
    base = _scores(q, k, rope_freqs(grid, dh))
    shifted = _scores(q, k, rope_freqs(grid, dh, offset=(7, 3, 11)))
    assert torch.allclose(base, shifted, atol=1e-4)
    # and RoPE does encode position: without it (or moving one axis only partly) the scores change
    plain = torch.einsum("bnhd,bmhd->bhnm", q.double(), k.double())
    assert (base - plain).abs().max() > 0.1
    # a query at the same relative offset sees the same score: token (0,0,0)->(1,1,1) vs (1,1,1)->(2,2,2)
    idx = lambda t, h, w: t * 20 + h * 5 + w  # noqa: E731
    same_q = q.clone()
    same_q[:, idx(1, 1, 1)] = q[:, idx(0, 0, 0)]
    k2 = k.clone()
    k2[:, idx(2, 2, 2)] = k[:, idx(1, 1, 1)]
    s1 = _scores(q, k, rope_freqs(grid, dh))[0, :, idx(0, 0, 0), idx(1, 1, 1)]
    s2 = _scores(same_q, k2, rope_freqs(grid, dh))[0, :, idx(1, 1, 1), idx(2, 2, 2)]
    assert torch.allclose(s1, s2, atol=1e-4)


def test_rope_works_on_any_grid_without_a_table():
    f = rope_freqs((7, 13, 29), 16)
    assert f.shape == (7 * 13 * 29, 1, 8, 2) and torch.allclose(f.pow(2).sum(-1), torch.ones(()))


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_attention_backends_agree_with_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 10, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)[:, None, None, :]
    ref = attention(q, k, v, mask, backend="math")
    assert torch.allclose(attention(q, k, v, mask), ref, atol=1e-5)
    assert torch.allclose(bind("flex")(q, k, v, mask), ref, atol=1e-4)
    # masked keys do not matter
    v2 = v.clone()
    v2[0, :, 3:] = 100.0
    assert torch.allclose(attention(q, k, v2, mask)[0], ref[0], atol=1e-5)
    with pytest.raises(ValueError, match="unknown attention backend"):
        attention(q, k, v, backend="nope")


def test_rope_real_form_for_compile_equals_complex_form(monkeypatch):
    torch.manual_seed(0)
    x, f = torch.randn(2, 60, 3, 16), rope_freqs((3, 4, 5), 16)
    eager = apply_rope(x, f)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert torch.allclose(apply_rope(x, f), eager, atol=1e-6)
    assert (eager - x).abs().max() > 0.1
