"""Ulysses attention over 2 gloo processes equals attention on one process, outputs and gradients."""

import torch
from spawn_util import spawn

from patchflow.parallel.sequence_parallel import (
    apply_sequence_parallel,
    gather_sequence,
    shard_sequence,
    ulysses,
)


def reference_attention(q, k, v, mask=None):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _inputs():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 12, 8, generator=g) for _ in range(3))  # (B, H, N, Dh)
    mask = torch.ones(2, 1, 1, 12, dtype=torch.bool)
    mask[1, ..., 9:] = False  # key padding on the second sample
    return q, k, v, mask


def _attention_worker(rank, out_dir):
    q, k, v, mask = _inputs()
    q, k, v = (shard_sequence(x, dim=2).clone().requires_grad_() for x in (q, k, v))
    out = ulysses(reference_attention)(q, k, v, mask)
    assert out.shape == q.shape  # (B, H, N/2, Dh)
    (out * torch.arange(out.numel()).reshape(out.shape).float().sin()).sum().backward()
    torch.save({"out": gather_sequence(out.detach(), 2), "dq": gather_sequence(q.grad, 2),
                "dk": gather_sequence(k.grad, 2), "dv": gather_sequence(v.grad, 2)}, f"{out_dir}/rank{rank}.pt")


def _dit_block_inputs():
    """A debug DiT's first block and per-token inputs for a (3, 4, 4) token grid (48 tokens)."""
    from patchflow.config import DiTConfig
    from patchflow.models.dit import DiT
    from patchflow.models.dit.embeddings import rope_freqs

    torch.manual_seed(0)
    cfg = DiTConfig(width=32, depth=1, heads=4, text_dim=16)
    block = DiT(cfg).blocks[0]
    for p in block.parameters():  # adaLN-zero starts as the identity: give every path some weight
        torch.nn.init.normal_(p, std=0.2)
    g = torch.Generator().manual_seed(1)
    grid = (3, 4, 4)
    x = torch.randn(2, 48, 32, generator=g)  # (B, N, D)
    mod = 0.3 * torch.randn(2, 48, 6, 32, generator=g)  # (B, N, 6, D)
    text = torch.randn(2, 5, 32, generator=g)  # (B, L, D): text already projected to the width
    text_mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    return block, x, mod, text, text_mask, rope_freqs(grid, 8, cfg.rope_theta)


def _worker(rank, out_dir):
    _attention_worker(rank, out_dir)
    # A whole DiT block with its self-attention wrapped from outside, fed its 24 of the 48 tokens.
    block, x, mod, text, text_mask, rope = _dit_block_inputs()
    assert apply_sequence_parallel(block) == 1  # blocks.attn wrapped, blocks.cross left alone
    out = block(shard_sequence(x, 1), shard_sequence(mod, 1), text, text_mask, shard_sequence(rope, 0))
    torch.save(gather_sequence(out.detach(), 1), f"{out_dir}/block{rank}.pt")


def test_ulysses_matches_single_process(tmp_path):
    spawn(_worker, 2, str(tmp_path))
    block, x, mod, text, text_mask, rope = _dit_block_inputs()
    want = block(x, mod, text, text_mask, rope).detach()
    for rank in range(2):
        torch.testing.assert_close(torch.load(tmp_path / f"block{rank}.pt", weights_only=True), want,
                                   atol=1e-5, rtol=1e-4)
    q, k, v, mask = _inputs()
    q, k, v = (x.clone().requires_grad_() for x in (q, k, v))
    out = reference_attention(q, k, v, mask)
    # The same per-rank weights as in the workers, laid out over the full sequence.
    weights = torch.cat([torch.arange(out[:, :, :6].numel()).reshape(2, 4, 6, 8).float().sin()] * 2, dim=2)
    (out * weights).sum().backward()
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        torch.testing.assert_close(got["out"], out.detach(), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(got["dq"], q.grad, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(got["dk"], k.grad, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(got["dv"], v.grad, atol=1e-6, rtol=1e-5)


def test_apply_sequence_parallel_wraps_self_attention_only():
    class Attn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_fn = reference_attention

    model = torch.nn.ModuleDict({"self_attn": Attn(), "cross_attn": Attn()})
    assert apply_sequence_parallel(model) == 1
    assert model["self_attn"].attn_fn.ulysses_inner is reference_attention
    assert model["cross_attn"].attn_fn is reference_attention
    assert apply_sequence_parallel(model) == 0  # never wrapped twice
