"""Token masking in training (train/token_mask.py): what is kept, the masked forward and loss, the unmasked finish."""

import pytest
import torch
from tiny_world import tiny_config

from patchflow.config import DiTConfig, TrainConfig
from patchflow.diffusion.flow_loss import rectified_flow_loss
from patchflow.models.dit import DiT
from patchflow.models.dit.embeddings import patchify
from patchflow.models.dit.flops import forward_flops, train_flops
from patchflow.train.token_mask import check_token_mask, keep_indices, kept_tokens, mask_ratio_at
from patchflow.train.trainer import Trainer


def _random_dit(seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    dit = DiT(DiTConfig(width=32, depth=2, heads=2, in_channels=4, text_dim=16)).eval()
    torch.nn.init.normal_(dit.proj_out.weight, std=0.2)  # a fresh DiT outputs zero: make it say something
    for block in dit.blocks:  # and open the zero-initialised paths: gates, cross-attention
        torch.nn.init.normal_(block.cross.out.weight, std=0.2)
        torch.nn.init.normal_(block.mod_bias, std=0.5)
    return dit


def test_keep_indices_hold_the_same_count_in_every_frame():
    grid = (3, 4, 5)  # 20 tokens a frame
    keep = keep_indices(grid, 0.5, torch.Generator().manual_seed(0))
    assert keep.shape == (30,) and keep.dtype == torch.long
    assert torch.equal(keep, keep.sort().values) and len(set(keep.tolist())) == 30
    per_frame = torch.bincount(keep // 20, minlength=3)
    assert per_frame.tolist() == [10, 10, 10]
    other = keep_indices(grid, 0.5, torch.Generator().manual_seed(1))
    assert not torch.equal(keep, other)  # random, by the generator
    assert torch.equal(keep, keep_indices(grid, 0.5, torch.Generator().manual_seed(0)))
    assert kept_tokens(grid, 0.5) == 30 and kept_tokens(grid, 0.0) == 60
    assert kept_tokens((2, 1, 1), 0.9) == 2  # at least one token a frame


def test_keeping_every_token_is_the_plain_forward():
    dit = _random_dit()
    x = torch.randn(2, 4, 3, 4, 6)  # grid (3, 2, 3) with patch (1, 2, 2)
    t = torch.rand(2)[:, None].expand(2, 18).contiguous()
    text, mask = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        full = dit(x, t, text, mask)  # (B, C, T, H, W)
        kept = dit(x, t, text, mask, keep=torch.arange(18))  # (B, N, P)
    torch.testing.assert_close(kept, patchify(full, (1, 2, 2)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("times", ["sample", "frame", "token"])
def test_masked_forward_sees_only_the_kept_tokens(times):
    """The output at kept tokens depends on the kept tokens only, whatever the time grouping (G = 1, T, N)."""
    dit = _random_dit()
    x = torch.randn(1, 4, 3, 4, 6)  # grid (3, 2, 3), 6 tokens a frame
    t = {"sample": torch.full((1, 18), 0.7), "frame": torch.tensor([0.0, 0.5, 0.9]).repeat_interleave(6)[None],
         "token": torch.rand(1, 18)}[times]
    text, mask = torch.randn(1, 5, 16), torch.ones(1, 5, dtype=torch.bool)
    keep = keep_indices((3, 2, 3), 0.5, torch.Generator().manual_seed(3))  # 3 a frame
    dropped = torch.ones(18, dtype=torch.bool)
    dropped[keep] = False
    changed = patchify(x, (1, 2, 2)).clone()
    changed[:, dropped] += 5.0  # change only the dropped tokens' content
    x2 = changed.view(1, 3, 2, 3, 4, 2, 2).permute(0, 4, 1, 2, 5, 3, 6).reshape(1, 4, 3, 4, 6)  # unpatchify
    assert not torch.equal(x, x2)
    with torch.no_grad():
        a, b = dit(x, t, text, mask, keep=keep), dit(x2, t, text, mask, keep=keep)
        full_a, full_b = dit(x, t, text, mask), dit(x2, t, text, mask)
    assert a.shape == (1, 9, 16)
    torch.testing.assert_close(a, b)  # the dropped tokens are invisible to the kept ones
    assert not torch.allclose(patchify(full_a, (1, 2, 2))[:, keep], patchify(full_b, (1, 2, 2))[:, keep])


def test_masked_loss_with_every_token_kept_is_the_plain_loss():
    dit = _random_dit()
    x0, eps = torch.randn(2, 4, 3, 4, 6), torch.randn(2, 4, 3, 4, 6)
    t = torch.tensor([0.3, 0.8])
    frame_mask = torch.tensor([[True, False, False], [False, False, False]])
    text, mask = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool)
    for prediction in ("v", "x"):
        plain = rectified_flow_loss(dit, x0, eps, t, frame_mask, text, mask, (3, 2, 3), 1, prediction=prediction)
        masked = rectified_flow_loss(dit, x0, eps, t, frame_mask, text, mask, (3, 2, 3), 1, prediction=prediction,
                                     keep=torch.arange(18))
        torch.testing.assert_close(masked, plain, rtol=1e-5, atol=1e-6)


def test_masked_loss_scores_kept_free_tokens_only():
    """Changing the clean latent at a dropped token leaves the loss alone, at a kept token of a free frame it
    does not; a sample whose frames are all conditioning scores nothing."""
    dit = _random_dit()
    x0, eps = torch.randn(1, 4, 3, 4, 6), torch.randn(1, 4, 3, 4, 6)
    t, frame_mask = torch.tensor([0.6]), torch.tensor([[True, False, False]])  # frame 0 is conditioning
    text, mask = torch.randn(1, 5, 16), torch.ones(1, 5, dtype=torch.bool)
    keep = keep_indices((3, 2, 3), 0.5, torch.Generator().manual_seed(5))  # 3 of 6 tokens a frame
    dropped_free = [i for i in range(6, 18) if i not in keep.tolist()][0]
    kept_free = [i for i in keep.tolist() if i >= 6][0]

    def loss_with(token: int | None) -> torch.Tensor:
        patches = patchify(x0, (1, 2, 2)).clone()  # (1, 18, 16)
        if token is not None:
            patches[:, token] += 3.0
        x = patches.view(1, 3, 2, 3, 4, 2, 2).permute(0, 4, 1, 2, 5, 3, 6).reshape(1, 4, 3, 4, 6)  # unpatchify
        with torch.no_grad():
            return rectified_flow_loss(dit, x, eps, t, frame_mask, text, mask, (3, 2, 3), 1, keep=keep)

    base = loss_with(None)
    assert torch.equal(loss_with(dropped_free), base)
    assert not torch.allclose(loss_with(kept_free), base)
    all_cond = rectified_flow_loss(dit, x0, eps, t, torch.ones(1, 3, dtype=torch.bool), text, mask, (3, 2, 3), 1,
                                   keep=keep)
    assert all_cond.item() == 0.0  # every frame conditioning: nothing to score


def test_mask_schedule_and_settings():
    tc = TrainConfig(steps=100, token_mask=0.5, token_mask_until=0.9)
    assert [mask_ratio_at(tc, s) for s in (0, 89, 90, 99)] == [0.5, 0.5, 0.0, 0.0]
    for bad, key in (({"token_mask": 1.0}, "train.token_mask"), ({"token_mask_until": 1.5}, "train.token_mask_until"),
                     ({"token_mask": 0.5, "sequence_parallel": 2}, "sequence_parallel")):
        with pytest.raises(ValueError, match=key):
            check_token_mask(TrainConfig(**bad))


def test_masked_flops_count_the_kept_tokens():
    cfg = DiTConfig(width=32, depth=2, heads=2, in_channels=4, text_dim=16)
    shape = (2, 4, 3, 8, 8)  # 48 tokens a sample
    assert train_flops(cfg, shape, 5, kept_tokens=48) == train_flops(cfg, shape, 5)
    half = train_flops(cfg, shape, 5, kept_tokens=24)
    embed_of_dropped = 24 * 2 * 16 * 32
    assert half == 2 * 3 * (forward_flops(cfg, 24, 5)["total"] + embed_of_dropped)
    assert half < 0.55 * train_flops(cfg, shape, 5)


class Spy(Trainer):
    """Records how many tokens each training step's DiT saw."""

    def micro_loss(self, batch, gen, noise_gen):
        seen = []
        hook = self.model.blocks[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
        try:
            return super().micro_loss(batch, gen, noise_gen)
        finally:
            hook.remove()
            self.seen.append((seen[0], self.model.grid(batch["latents"].shape)))


def test_training_masks_then_finishes_unmasked(tmp_path, latent_cache):
    cfg = tiny_config(tmp_path, latent_cache, "train.steps=10", "train.token_mask=0.5", "train.token_mask_until=0.7")
    trainer = Spy(cfg, show_progress=False)
    trainer.seen = []
    trainer.fit()
    assert len(trainer.seen) == 10
    for step, (tokens, grid) in enumerate(trainer.seen):
        expected = kept_tokens(grid, 0.5) if step < 7 else grid[0] * grid[1] * grid[2]
        assert tokens == expected, step
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss in trainer.history)
