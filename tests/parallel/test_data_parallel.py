"""DDP and FSDP2 over 2 gloo processes train a small block model exactly like 1 process with the same global batch."""

import pytest
import torch
from spawn_util import spawn
from torch import nn

from patchflow.config import TrainConfig
from patchflow.parallel.mesh import DistInfo, all_reduce_mean, rank, world_size
from patchflow.parallel.parallelize import (
    load_model_state_dict,
    load_optimizer_state_dict,
    model_state_dict,
    optimizer_state_dict,
    parallelize,
)
from patchflow.train.optim import build_optimizer

STEPS, GLOBAL_BATCH = 4, 8


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, d)

    def forward(self, x):
        return x + self.fc(self.norm(x)).tanh()


class BlockModel(nn.Module):
    def __init__(self, d=16, depth=3):
        super().__init__()
        self.inp = nn.Linear(4, d)
        self.blocks = nn.ModuleList(Block(d) for _ in range(depth))
        self.out = nn.Linear(d, 4)

    def forward(self, x):
        h = self.inp(x)
        for block in self.blocks:
            h = block(h)
        return self.out(h)


def _batch(step):
    g = torch.Generator().manual_seed(step)
    x = torch.randn(GLOBAL_BATCH, 4, generator=g)
    return x, x.flip(-1) * 0.5


def _train(mode, ac=False):
    """Losses of STEPS steps; each rank takes its contiguous slice of the global batch."""
    torch.manual_seed(0)
    model = BlockModel()
    cfg = TrainConfig(parallel=mode, activation_checkpointing=ac)
    train_model = parallelize(model, cfg, DistInfo(rank(), world_size(), rank(), torch.device("cpu")))
    opt = build_optimizer(model, 1e-2, [0.9, 0.99], 0.01)
    losses = []
    for step in range(STEPS):
        x, y = _batch(step)
        x, y = x.chunk(world_size())[rank()], y.chunk(world_size())[rank()]
        loss = (train_model(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(all_reduce_mean(loss.detach()).item())
    return model, opt, losses


def _worker(rank_, out_dir):
    for mode in ("ddp", "fsdp"):  # one spawn for both: starting processes is the slow part
        _run_mode(rank_, mode, out_dir)


def _run_mode(rank_, mode, out_dir):
    model, opt, losses = _train(mode)
    weights = model_state_dict(model)
    opt_state = optimizer_state_dict(model, opt)
    if rank_ == 0:
        torch.save({"losses": losses, "weights": weights, "opt": opt_state}, f"{out_dir}/{mode}.pt")
    if mode == "fsdp":  # full state dicts load back into a freshly sharded model
        torch.manual_seed(1)
        fresh = BlockModel()
        parallelize(fresh, TrainConfig(parallel="fsdp"), DistInfo(rank_, 2, rank_, torch.device("cpu")))
        fresh_opt = build_optimizer(fresh, 1e-2, [0.9, 0.99], 0.01)
        full = torch.load(f"{out_dir}/{mode}.pt", weights_only=True) if rank_ == 0 else None
        from patchflow.parallel.mesh import broadcast_object

        full = broadcast_object(full)
        load_model_state_dict(fresh, dict(full["weights"]))  # (it swaps the dict's entries for shards)
        load_optimizer_state_dict(fresh, fresh_opt, full["opt"])
        again = model_state_dict(fresh)
        if rank_ == 0:
            for k, v in full["weights"].items():
                assert torch.equal(again[k], v), k


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dp")
    spawn(_worker, 2, str(out))
    return out


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_match_one(two_process_results, mode):
    model, opt, losses = _train("none")
    got = torch.load(two_process_results / f"{mode}.pt", weights_only=True)
    assert got["losses"] == pytest.approx(losses, rel=1e-5, abs=1e-6)
    assert losses[-1] < losses[0]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(got["weights"][k], v, atol=1e-5, rtol=1e-4)
    single_opt = optimizer_state_dict(model, opt)
    for name, slots in single_opt["state"].items():
        torch.testing.assert_close(got["opt"]["state"][name]["exp_avg_sq"], slots["exp_avg_sq"], atol=1e-7, rtol=1e-3)


def test_activation_checkpointing_keeps_names_and_gradients():
    plain, _, losses = _train("none")
    ckpt, _, losses_ac = _train("none", ac=True)
    assert list(plain.state_dict()) == list(ckpt.state_dict())
    assert losses_ac == pytest.approx(losses, rel=1e-6)
