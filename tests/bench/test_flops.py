"""bench/flops.py: the analytic count of a training step agrees with torch's FLOP counter, attention included."""

import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from flops import tokens_of, train_flops, weight_counts  # noqa: E402

from patchflow.models.dit import DiT  # noqa: E402
from patchflow.recipes import get_recipe  # noqa: E402


def counted_flops(model, shape, text_len) -> int:
    """torch's count of one forward + backward (its table lacks the CPU attention kernels: they are added)."""
    aten = torch.ops.aten
    cpu_attention = {
        aten._scaled_dot_product_flash_attention_for_cpu:
            lambda q, k, v, *a, out_shape=None, **kw: sdpa_flop_count(q, k, v),
        aten._scaled_dot_product_flash_attention_for_cpu_backward:
            lambda g, q, k, v, *a, out_shape=None, **kw: sdpa_backward_flop_count(g, q, k, v),
    }
    b = shape[0]
    grid = model.grid(shape)
    x = torch.randn(shape)
    t = torch.rand(b, 1).expand(b, grid[0] * grid[1] * grid[2]).contiguous()  # (B, N)
    text, mask = torch.randn(b, text_len, model.cfg.text_dim), torch.ones(b, text_len, dtype=torch.bool)
    with FlopCounterMode(display=False, custom_mapping=cpu_attention) as counter:
        model(x, t, text, mask).pow(2).mean().backward()
    per_op = counter.get_flop_counts()["Global"]
    assert any("attention" in str(op) for op in per_op), "the attention kernels were not counted"
    return counter.get_total_flops()


@pytest.mark.parametrize("shape, text_len", [((2, 4, 3, 8, 8), 12), ((1, 4, 5, 16, 8), 30), ((3, 4, 1, 8, 8), 5)])
def test_the_analytic_count_matches_torchs_counter(shape, text_len):
    cfg = get_recipe("debug").dit
    torch.manual_seed(0)
    model = DiT(cfg)
    counted = counted_flops(model, shape, text_len)
    assert abs(train_flops(cfg, shape, text_len) / counted - 1) < 0.03  # elementwise work and biases aside


def test_weights_split_by_what_they_read_and_tokens_follow_the_patch_grid():
    cfg = get_recipe("world_tiny").dit
    counts = weight_counts(cfg)
    assert counts["total"] == sum(p.numel() for p in DiT(cfg).parameters())
    assert counts["video"] > counts["text"] > 0 and counts["time"] > 0
    assert tokens_of(cfg, (3, 16, 9, 16, 16)) == 3 * 9 * 8 * 8  # patch (1, 2, 2)
    wider = dict(cfg.__dict__, width=2 * cfg.width, heads=cfg.heads)
    assert weight_counts(type(cfg)(**wider))["video"] > 3 * counts["video"]  # weights grow as width^2
