"""A DiT whose tokens are split over 2 and 4 gloo processes computes what one process computes: the output
and the gradients, for token counts the group size divides and for ones it does not (padding), with one
time per sample and one per frame; and a sequence-parallel training step equals the one-process step."""

import pytest
import torch
from spawn_util import spawn

from patchflow.config import DiTConfig, TrainConfig
from patchflow.diffusion.flow_loss import rectified_flow_loss
from patchflow.models.dit import DiT
from patchflow.parallel.mesh import DistInfo, all_reduce_mean, all_reduce_sum, build_layout, rank, world_size
from patchflow.parallel.parallelize import parallelize
from patchflow.parallel.sequence_dit import apply_sequence_parallel_dit

# (latent shape (B, C, T, H, W), per-frame times): 18 tokens (a (3, 2, 3) grid), then 9 ((3, 1, 3)):
# 2 divides 18 but not 9, 4 divides neither; per-frame times split groups unevenly over the ranks.
CASES = [((2, 4, 3, 4, 6), False), ((2, 4, 3, 4, 6), True), ((2, 4, 3, 2, 6), True)]


def _model() -> DiT:
    torch.manual_seed(0)
    model = DiT(DiTConfig(width=32, depth=2, heads=4, text_dim=16, in_channels=4))
    for p in model.parameters():  # zero-initialised gates and output: give every path some weight
        torch.nn.init.normal_(p, std=0.2)
    return model


def _inputs(shape, per_frame):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g)
    grid = (shape[2], shape[3] // 2, shape[4] // 2)
    n = grid[0] * grid[1] * grid[2]
    t = torch.rand(shape[0], 1, generator=g).expand(-1, n).clone()  # (B, N): one time per sample
    if per_frame:
        t[:, : n // grid[0]] = 0.0  # the first latent frame conditioned, t = 0
    text = torch.randn(shape[0], 5, 16, generator=g)
    text_mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    weights = torch.randn(shape, generator=g)  # a loss that weighs every output element differently
    return x, t, text, text_mask, weights


def _forward_and_grads(model, case):
    x, t, text, text_mask, weights = _inputs(*case)
    model.zero_grad()
    out = model(x, t, text, text_mask)
    (out * weights).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _step_inputs(conditioned: bool):
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(2, 4, 3, 4, 6, generator=g), torch.randn(2, 4, 3, 4, 6, generator=g)
    t = torch.tensor([0.3, 0.8])
    frame_mask = torch.tensor([[conditioned, False, False], [False, False, False]])  # (B, T'): image-conditioned
    return x0, eps, t, frame_mask


def _train_step(train_model, model, samples=slice(None), conditioned=True):
    """Loss and full gradients of one rectified-flow step on `samples` of a fixed batch of 2."""
    x0, eps, t, frame_mask = (v[samples] for v in _step_inputs(conditioned))
    text, text_mask = (v[samples] for v in _inputs(*CASES[0])[2:4])
    loss = rectified_flow_loss(train_model, x0, eps, t, frame_mask, text, text_mask, (3, 2, 3), 1)
    loss.backward()
    full = {n: p.grad.full_tensor() if hasattr(p.grad, "full_tensor") else p.grad for n, p in model.named_parameters()}
    return loss.detach(), {n: g.clone() for n, g in full.items()}


def _worker(rank_, out_dir):
    p = world_size()
    model = _model()
    apply_sequence_parallel_dit(model)
    for i, case in enumerate(CASES):
        out, grads = _forward_and_grads(model, case)
        # each rank holds P times its share of the gradient (sequence_dit.py): the sum over ranks / P is the whole
        grads = {n: all_reduce_sum(g) / p for n, g in grads.items()}
        if rank_ == 0:
            torch.save({"out": out, "grads": grads}, f"{out_dir}/case{i}_p{p}.pt")
    info = DistInfo(rank(), p, rank(), torch.device("cpu"))
    if p == 2:  # a training step through parallelize, with activation checkpointing: DDP averages over the group
        cfg = TrainConfig(sequence_parallel=2, activation_checkpointing=True)
        samples, conditioned = slice(None), True
    else:  # HSDP: 2 replicas (one sample each), FSDP2 over each replica's sequence group of 2
        cfg = TrainConfig(parallel="fsdp", data_parallel_replicate=2, sequence_parallel=2)
        samples, conditioned = slice(rank() // 2, rank() // 2 + 1), False  # equal frames: mean of means = mean
    model = _model()
    layout = build_layout(cfg, info, heads=4)
    assert (layout.dp_replicate, layout.dp_shard, layout.sp) == ((1, 1, 2) if p == 2 else (2, 1, 2))
    loss, grads = _train_step(parallelize(model, cfg, info, layout), model, samples, conditioned)
    loss = all_reduce_mean(loss)  # over the data-parallel ranks (the sequence group's copies are equal)
    if rank_ == 0:
        torch.save({"loss": loss, "grads": grads}, f"{out_dir}/step_p{p}.pt")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("sp_dit")
    for processes in (2, 4):
        spawn(_worker, processes, str(out))
    return out


@pytest.mark.parametrize("processes", [2, 4])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_split_tokens_match_one_process(runs, processes, case):
    want_out, want_grads = _forward_and_grads(_model(), CASES[case])
    got = torch.load(runs / f"case{case}_p{processes}.pt", weights_only=True)
    torch.testing.assert_close(got["out"], want_out, atol=1e-5, rtol=1e-4)
    for name, g in want_grads.items():
        assert g.abs().sum() > 0, name  # every parameter takes part: the comparison is not vacuous
        torch.testing.assert_close(got["grads"][name], g, atol=1e-4, rtol=1e-4, msg=name)


@pytest.mark.parametrize("processes", [2, 4])
def test_training_step_matches_one_process(runs, processes):
    """2: sequence parallel with activation checkpointing; 4: HSDP replicas x sequence parallel, through FSDP2."""
    model = _model()
    want_loss, want_grads = _train_step(model, model, conditioned=processes == 2)
    got = torch.load(runs / f"step_p{processes}.pt", weights_only=True)
    torch.testing.assert_close(got["loss"], want_loss, atol=1e-6, rtol=1e-5)
    for name, g in want_grads.items():
        torch.testing.assert_close(got["grads"][name], g, atol=1e-5, rtol=1e-4, msg=name)
