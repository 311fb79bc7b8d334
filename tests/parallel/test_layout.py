"""The pieces of the parallel layout that need no processes: the degrees and their errors, the slices of tokens
and time groups a rank keeps, the data position moved to another layout, and DiT.forward as its pieces."""

import pytest
import torch

from patchflow.config import DiTConfig
from patchflow.models.dit import DiT
from patchflow.models.dit.embeddings import unpatchify
from patchflow.parallel.mesh import resolve_degrees
from patchflow.parallel.relayout import data_state_for, rebase
from patchflow.parallel.sequence_dit import group_rows, local_span, padded_slice


@pytest.mark.parametrize(("parallel", "given", "world", "want"), [
    ("fsdp", (0, 0, 2), 4, (1, 2, 2)),  # the 2x2 mesh: shard takes the rest
    ("fsdp", (2, 0, 2), 8, (2, 2, 2)),  # HSDP
    ("ddp", (0, 0, 2), 4, (2, 1, 2)),  # replicate takes the rest
    ("none", (0, 0, 4), 4, (1, 1, 4)),  # sequence parallel alone
    ("none", (0, 0, 1), 1, (1, 1, 1)),
])
def test_degrees_fill_the_world(parallel, given, world, want):
    got = resolve_degrees(parallel, *given, world, heads=4)
    assert got == want
    assert got[0] * got[1] * got[2] == world


@pytest.mark.parametrize(("parallel", "given", "world", "heads", "names"), [
    ("fsdp", (0, 0, 3), 6, 4, ["train.sequence_parallel=3", "dit.heads=4", "[1, 2, 4]"]),
    ("none", (0, 0, 2), 1, 4, ["train.sequence_parallel=2", "torchrun --nproc_per_node"]),
    ("fsdp", (2, 3, 1), 4, 4, ["2 x 3 x 1 = 6", "4 processes", "make the product 4"]),
    ("ddp", (0, 2, 1), 2, 4, ["train.data_parallel_shard=2", "train.parallel=fsdp"]),
])
def test_degrees_that_cannot_hold_name_the_fix(parallel, given, world, heads, names):
    with pytest.raises(ValueError) as err:
        resolve_degrees(parallel, *given, world, heads)
    for name in names:
        assert name in str(err.value)


def test_ranks_cover_the_tokens_once_padding_at_the_end():
    for n, p in [(18, 2), (18, 4), (9, 2), (3, 4)]:
        x = torch.arange(n)[None, :, None].float() + 1  # (1, N, 1), no zeros among the real tokens
        pieces = [padded_slice(x, 1, *local_span(n, p, r)) for r in range(p)]
        joined = torch.cat(pieces, dim=1)  # (1, P * ceil(N/P), 1)
        assert joined.shape[1] == p * -(-n // p)
        assert torch.equal(joined[:, :n], x) and not joined[:, n:].any()


def test_group_rows_keep_groups_when_they_can():
    assert group_rows(1, 48, 24, 24).tolist() == [0]  # one time per sample: one row
    assert group_rows(3, 48, 16, 16).tolist() == [1]  # a slice on a group edge: its group
    assert group_rows(3, 48, 0, 24).tolist() == [0] * 16 + [1] * 8  # groups split unevenly: per token
    assert group_rows(4, 48, 24, 24).tolist() == [2, 3]
    assert group_rows(3, 9, 5, 5).tolist() == [1, 2, 2, 2, 2]  # padding takes the last real token's group


def test_data_position_moves_to_another_layout():
    def sampler(rank, world, position):
        return {"epoch": 1, "position": position, "seed": 0, "rank": rank, "world_size": world}

    saved = [{"sampler": {"step": 6, "images": sampler(r, 2, 3), "videos": sampler(r, 2, 4)}, "attempted": 9}
             for r in (0, 0, 1, 1)]  # 2 data-parallel ranks x sequence parallel 2, in rank order
    same, exact = data_state_for(saved, 2, 1, 2)
    assert exact and same is saved[2]
    one, exact = data_state_for(saved, 2, 0, 1)
    assert not exact
    assert one["sampler"]["images"] == sampler(0, 1, 6) and one["sampler"]["videos"] == sampler(0, 1, 8)
    assert one["sampler"]["step"] == 6 and one["attempted"] == 9
    cache = rebase({"epoch": 0, "position": 5, "rank": 1, "world": 2}, 2, 3, 4)  # the latent cache's state
    assert cache == {"epoch": 0, "position": 2, "rank": 3, "world": 4}  # 10 shards taken: 4 ranks go on from 8
    cache = rebase({"calls": 5, "legacy": False, "rank": 1, "world": 2}, 2, 3, 4)  # today's: the global sequence
    assert cache == {"calls": 2, "legacy": False, "rank": 3, "world": 4}  # global batches 0-9 taken: go on from 8


def test_forward_equals_its_pieces():
    torch.manual_seed(0)
    model = DiT(DiTConfig(width=32, depth=2, heads=4, text_dim=16, in_channels=4))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(2, 4, 3, 4, 6)
    t = torch.rand(2, 1).expand(2, 18).clone()
    t[:, :6] = 0.0  # a conditioned first frame: per-frame time groups
    text, mask = torch.randn(2, 5, 16), torch.tensor([[True] * 5, [True, True, False, False, False]])
    s = model.embed(x, t, text, mask)
    h = s.tokens
    for block in model.blocks:
        h = block(h, s.mod, s.text, s.text_mask, s.rope)
    pieces = unpatchify(model.head(h, s.temb), s.grid, model.patch)
    assert s.mod.shape[1] == 3  # the time groups the blocks broadcast over
    assert torch.equal(model(x, t, text, mask), pieces)
