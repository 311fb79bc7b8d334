"""patchflow/models/dit/flops.py: the closed-form FLOPs of the DiT agree with torch's FLOP counter."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from patchflow.models.dit import DiT, dit_config
from patchflow.models.dit.flops import (
    forward_flops,
    recomputed_score_flops,
    tokens_of,
    train_flops,
    train_flops_per_token,
)

# two DiTs that differ in every term of the formula: width, depth, MLP ratio, patch, channels, text width
CONFIGS = {
    "debug": (dit_config("debug", in_channels=4, text_dim=32), (2, 4, 3, 8, 12)),  # 3 x 4 x 6 = 72 tokens
    "tiny-p222": (dit_config("tiny", in_channels=8, text_dim=48, mlp_ratio=3.0, patch_size=[2, 2, 2]),
                  (2, 8, 4, 16, 8)),  # 2 x 8 x 4 = 64 tokens
}
TEXT_LEN = 12


def cpu_attention():
    """torch's table knows the CUDA attention kernels only; the CPU flash kernel takes q, k, v the same way."""
    aten = torch.ops.aten
    return {
        aten._scaled_dot_product_flash_attention_for_cpu:
            lambda q, k, v, *a, out_shape=None, **kw: sdpa_flop_count(q, k, v),
        aten._scaled_dot_product_flash_attention_for_cpu_backward:
            lambda g, q, k, v, *a, out_shape=None, **kw: sdpa_backward_flop_count(g, q, k, v),
    }


def counted(cfg, shape, with_text: bool, time_per_token: bool = False) -> tuple[int, int, int]:
    """(forward, forward + backward, text columns the DiT kept) as FlopCounterMode counts one training step of
    a batch, one time a sample (or one a token). Without text every token is padding (a dropped prompt): the
    DiT keeps one column."""
    torch.manual_seed(0)
    model = DiT(cfg)
    b, n = shape[0], tokens_of(cfg, shape) // shape[0]
    x = torch.randn(shape)
    t = torch.rand(b, n) if time_per_token else torch.rand(b, 1).expand(b, n).contiguous()  # (B, N)
    text = torch.randn(b, TEXT_LEN, cfg.text_dim)
    mask = torch.zeros(b, TEXT_LEN, dtype=torch.bool)
    if with_text:
        mask[:, :5] = True
        mask[-1] = True  # the last sample uses every column, the others are padded after 5
    kept = TEXT_LEN if with_text else 1
    with FlopCounterMode(display=False, custom_mapping=cpu_attention()) as forward_counter:
        loss = model(x, t, text, mask).pow(2).mean()
    with FlopCounterMode(display=False, custom_mapping=cpu_attention()) as backward_counter:
        loss.backward()
    per_op = forward_counter.get_flop_counts()["Global"]
    assert any("attention" in str(op) for op in per_op), "the attention kernels were not counted"
    forward = forward_counter.get_total_flops()
    return forward, forward + backward_counter.get_total_flops(), kept


@pytest.mark.parametrize("with_text", [True, False], ids=["text", "no-text"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_and_training_step_match_torchs_counter(name, with_text):
    cfg, shape = CONFIGS[name]
    forward, step, L = counted(cfg, shape, with_text)
    b, n = shape[0], tokens_of(cfg, shape) // shape[0]
    # one time a sample: B distinct times in the batch, each sample's forward charged its own. The forward
    # counts the same ops as the formula (measured equal), so it is held closer than the step: 0.5 %
    assert forward / (b * forward_flops(cfg, n, L, distinct_times=1)["total"]) == pytest.approx(1, abs=0.005)
    # the step within 3 %: the first layers skip their input gradients (the patches and text need none);
    # the counter also charges the scores flash attention's backward recomputes, which model FLOPs leave out
    charged = train_flops(cfg, shape, L) + b * recomputed_score_flops(cfg, n, L)
    assert step / charged == pytest.approx(1, abs=0.03)


def test_every_distinct_time_is_charged_its_embedding_and_modulation():
    cfg, shape = CONFIGS["debug"]
    forward, _, L = counted(cfg, shape, True, time_per_token=True)  # B x N distinct times
    b, n = shape[0], tokens_of(cfg, shape) // shape[0]
    parts = forward_flops(cfg, n, L, distinct_times=n)
    assert parts["time"] > 0.1 * parts["total"]  # large enough here that a wrong time term shows
    assert forward / (b * parts["total"]) == pytest.approx(1, abs=0.005)


def test_a_batch_of_b_costs_b_times_one_sample():
    cfg, shape = CONFIGS["debug"]
    one, three = (1, *shape[1:]), (3, *shape[1:])
    assert train_flops(cfg, three, TEXT_LEN) == 3 * train_flops(cfg, one, TEXT_LEN)
    assert counted(cfg, three, True)[1] == 3 * counted(cfg, one, True)[1]  # the counter agrees: exactly linear
    n = tokens_of(cfg, one)
    assert train_flops_per_token(cfg, n, TEXT_LEN) == pytest.approx(train_flops(cfg, one, TEXT_LEN) / n)


def test_parts_add_up_and_attention_grows_with_the_sequence():
    cfg, _ = CONFIGS["tiny-p222"]
    short, long = forward_flops(cfg, 1024, 48, distinct_times=2), forward_flops(cfg, 4096, 48, distinct_times=2)
    for parts in (short, long):
        assert parts["total"] == sum(v for k, v in parts.items() if k != "total")
    assert long["dense"] == 4 * short["dense"] and long["text"] == short["text"] and long["time"] == short["time"]
    assert long["attention"] / long["total"] > short["attention"] / short["total"]  # quadratic in N
    assert train_flops_per_token(cfg, 4096, 48) > train_flops_per_token(cfg, 1024, 48)


def test_tokens_follow_the_patch_grid_and_a_bad_grid_is_named():
    cfg, _ = CONFIGS["tiny-p222"]
    assert tokens_of(cfg, (3, 8, 4, 16, 8)) == 3 * 2 * 8 * 4
    with pytest.raises(ValueError, match="not divisible by dit.patch_size"):
        tokens_of(cfg, (1, 8, 3, 16, 8))
    with pytest.raises(ValueError, match=r"\(B, C, T', H', W'\)"):
        train_flops(cfg, (8, 4, 16, 8), 12)
