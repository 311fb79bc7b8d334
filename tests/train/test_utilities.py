"""Shared training utilities on a small module of our own: checkpoint, EMA, optim, logging, RNG."""

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from patchflow.train import checkpoint as ckpt_mod
from patchflow.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from patchflow.train.ema import EMA
from patchflow.train.logging import MetricsLogger, plot_loss, progress, read_metrics
from patchflow.train.optim import build_optimizer, build_scheduler, lr_factor
from patchflow.train.rng import get_rng_state, seed_everything, set_rng_state


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 4)
        self.lin = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        return self.norm(self.lin(x))


def _state(model, opt, sched):
    return {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": get_rng_state(), "note": "x"}


def _train_step(model, opt, sched):
    loss = model(torch.randn(3, 4)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def test_checkpoint_round_trip_and_weights_only(tmp_path):
    torch.manual_seed(0)
    model = Tiny()
    opt = build_optimizer(model, 1e-2, [0.9, 0.99], 0.1)
    sched = build_scheduler(opt, 2, 10)
    _train_step(model, opt, sched)
    path = save_checkpoint(tmp_path, 1, {"model": model.state_dict()}, _state(model, opt, sched))
    assert path == latest_checkpoint(tmp_path)
    # state.pt loads with the safe unpickler (load_checkpoint uses weights_only=True).
    torch.load(path / "state.pt", weights_only=True)
    ck = load_checkpoint(tmp_path)
    assert ck.step == 1 and ck.state["note"] == "x"
    for k, v in model.state_dict().items():
        assert torch.equal(ck.tensors["model"][k], v)

    # Restoring model + optimizer + scheduler + RNG continues bit-identically.
    expected = [_train_step(model, opt, sched) for _ in range(3)]
    model2 = Tiny()  # (its init draws random numbers: restore RNG after)
    model2.load_state_dict(ck.tensors["model"])
    opt2 = build_optimizer(model2, 1e-2, [0.9, 0.99], 0.1)
    sched2 = build_scheduler(opt2, 2, 10)  # before loading the optimizer: a new scheduler resets the lr
    opt2.load_state_dict(ck.state["optimizer"])
    sched2.load_state_dict(ck.state["scheduler"])
    set_rng_state(ck.state["rng"])
    assert [_train_step(model2, opt2, sched2) for _ in range(3)] == expected


def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model = Tiny()
    save_checkpoint(tmp_path, 10, {"model": model.state_dict()}, {"a": 1})

    def crash(*args, **kwargs):
        raise OSError("disk died mid-write")

    monkeypatch.setattr(ckpt_mod.torch, "save", crash)  # safetensors written, state.pt not
    with torch.no_grad():
        model.lin.weight.add_(1.0)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path, 20, {"model": model.state_dict()}, {"a": 2})
    monkeypatch.undo()

    assert any(p.name.startswith(".tmp-") for p in (tmp_path / "checkpoints").iterdir())  # the half write
    ck = load_checkpoint(tmp_path)
    assert ck.step == 10 and ck.state["a"] == 1
    assert not torch.equal(ck.tensors["model"]["lin.weight"], model.lin.weight)

    # A stale `latest` pointer (crash between the folder rename and the pointer) falls back to the newest folder.
    (tmp_path / "checkpoints" / "latest").write_text("step_00000099\n")
    assert load_checkpoint(tmp_path).step == 10


def test_keep_last_k_and_resave_same_step(tmp_path):
    for step in range(1, 6):
        save_checkpoint(tmp_path, step, {"m": {"w": torch.full((2,), float(step))}}, {}, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["latest", "step_00000004", "step_00000005"]
    save_checkpoint(tmp_path, 5, {"m": {"w": torch.zeros(2)}}, {}, keep=2)
    assert torch.equal(load_checkpoint(tmp_path).tensors["m"]["w"], torch.zeros(2))


def test_no_decay_on_norms_biases_embeddings_of_1dim():
    model = Tiny()
    opt = build_optimizer(model, 1e-3, [0.9, 0.95], 0.1)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    ids = lambda group: {id(p) for p in group["params"]}  # noqa: E731
    assert ids(decay) == {id(model.emb.weight), id(model.lin.weight)}
    assert ids(no_decay) == {id(model.lin.bias), id(model.norm.weight), id(model.norm.bias)}
    assert opt.defaults["betas"] == (0.9, 0.95)


def test_warmup_then_cosine():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, warmup=4, total=20)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:], strict=False))  # non-increasing after warmup
    assert lrs[12] == pytest.approx(0.5, abs=1e-9)  # cosine midpoint: (12 - 4) / 16
    assert lr_factor(20, 4, 20) == pytest.approx(0.0)


def test_ema_tracks_average_and_swaps():
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    ema = EMA(model, decay=0.5, warmup=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)
    ema.update(model)
    assert torch.allclose(ema.state_dict()["weight"], torch.full((2, 2), 0.75))
    with ema.swapped(model):
        assert torch.allclose(model.weight, torch.full((2, 2), 0.75))
    assert torch.allclose(model.weight, torch.ones(2, 2))  # own weights back
    other = EMA(model, decay=0.5, warmup=False)
    other.load_state_dict(ema.state_dict(), ema.extra_state())
    assert other.num_updates == 2 and torch.equal(other.shadow["weight"], ema.shadow["weight"])
    warm = EMA(model, decay=0.999)
    assert warm.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0): early updates move fast


def test_rng_state_round_trip():
    seed_everything(3)
    state = get_rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(99)
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_metrics_logger_and_plot(tmp_path):
    with MetricsLogger(tmp_path, tensorboard=True) as log:
        for step in range(1, 6):
            log.log(step, {"loss": torch.tensor(1.0 / step), "lr": 0.1})
        log.log(6, {"loss": float("nan")})
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[1]["loss"] == pytest.approx(0.5) and rows[5]["loss"] == "nan"
    json.dumps(rows)
    assert any((tmp_path / "tensorboard").iterdir())
    png = plot_loss(tmp_path / "metrics.jsonl", tmp_path / "loss.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with progress(disable=True) as bar:
        task = bar.add_task("train", total=2, loss=float("nan"), tok_s=0.0)
        bar.update(task, advance=1, loss=0.5, tok_s=1234.0)


def test_metrics_logger_drops_rows_a_resumed_run_redoes(tmp_path):
    with MetricsLogger(tmp_path, tensorboard=False) as log:
        for step in range(1, 8):  # the process was stopped at step 7; its last checkpoint is step 5
            log.log(step, {"loss": 1.0})
    with MetricsLogger(tmp_path, tensorboard=False, start_step=5) as log:
        for step in range(6, 9):
            log.log(step, {"loss": 2.0})
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [r["loss"] for r in rows[5:]] == [2.0, 2.0, 2.0]
    with MetricsLogger(tmp_path, tensorboard=False) as log:  # a fresh run in the same folder starts clean
        log.log(1, {"loss": 3.0})
    assert [r["loss"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [3.0]


def _sched_at(step: int, lr: float, warmup: int, total: int):
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(2))], lr=lr)
    sched = build_scheduler(opt, warmup, total)
    for _ in range(step):
        opt.step()
        sched.step()
    return opt, sched


@pytest.mark.parametrize("total", [40, 80])
def test_resumed_schedule_takes_the_configs_shape_and_the_checkpoints_step(total):
    """Saved at step 20 of 40; resumed with steps=40 (as if never stopped) or steps=80 (stretched cosine)."""
    from patchflow.train.optim import load_scheduler_state

    old_opt, old = _sched_at(20, 1e-3, 10, 40)
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(2))], lr=1e-3)
    sched = build_scheduler(opt, 10, total)  # built from the config, then the checkpoint loaded: the trainers' order
    opt.load_state_dict(old_opt.state_dict())
    load_scheduler_state(sched, old.state_dict())
    assert sched.last_epoch == 20
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 * lr_factor(20, 10, total))
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3 * lr_factor(21, 10, total))
