"""The WSD schedule and run branching: a stable-phase checkpoint of a long WSD run, branched with
train.steps = k / (1 - decay_fraction), finishes as exactly the complete shorter run (the scaling figure's
lower compute points come from one run this way)."""

import pytest
import torch
from tiny_world import tiny_config

from patchflow.train.branch import branch_note, find_branch_point
from patchflow.train.checkpoint import load_checkpoint
from patchflow.train.optim import branch_steps, decay_start, lr_factor
from patchflow.train.run_config import check_train_config
from patchflow.train.trainer import Trainer


def test_wsd_warms_up_holds_then_decays_linearly_to_zero():
    warmup, total = 4, 40  # decay over the last 20 %: steps 32..40
    factors = [lr_factor(s, warmup, total, schedule="wsd", decay_fraction=0.2) for s in range(total + 1)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[4:33] == pytest.approx([1.0] * 29)
    assert factors[32:] == pytest.approx([1 - i / 8 for i in range(9)])
    assert decay_start(total, 0.2) == 32


def test_a_stable_checkpoint_is_the_start_of_a_shorter_complete_run():
    warmup, long_run, fraction = 10, 1000, 0.2
    k = 400  # in the long run's stable phase
    short = branch_steps(k, fraction)
    assert short == 500 and decay_start(short, fraction) == k
    same = [lr_factor(s, warmup, long_run, schedule="wsd", decay_fraction=fraction) for s in range(k)]
    assert same == [lr_factor(s, warmup, short, schedule="wsd", decay_fraction=fraction) for s in range(k)]


def test_unknown_schedule_and_bad_fraction_are_refused(tmp_path, latent_cache):
    with pytest.raises(ValueError, match="unknown lr schedule 'linear'"):
        lr_factor(0, 1, 10, schedule="linear")
    for override, key in (("train.lr_schedule=linear", "train.lr_schedule"),
                          ("train.decay_fraction=1.0", "train.decay_fraction")):
        with pytest.raises(ValueError, match=key):
            check_train_config(tiny_config(tmp_path, latent_cache, override), "dit")


def test_branch_of_a_wsd_run_equals_the_straight_shorter_run(tmp_path, latent_cache):
    wsd = ("train.lr_schedule=wsd", "train.decay_fraction=0.5", "train.warmup_steps=1", "train.keep_checkpoints=0")
    # the long run: 8 steps, stable to step 4, a checkpoint at step 2; a branch at 2 is a 4-step run
    long_run = Trainer(tiny_config(tmp_path / "long", latent_cache, *wsd, "train.steps=8", "train.ckpt_every=2"),
                       show_progress=False)
    long_run.fit()
    straight = Trainer(tiny_config(tmp_path / "short", latent_cache, *wsd, "train.steps=4"), show_progress=False)
    straight.fit()
    point = tmp_path / "long" / "run" / "checkpoints" / "step_00000002"
    branch = Trainer(tiny_config(tmp_path / "branch", latent_cache, *wsd, "train.steps=4"), show_progress=False,
                     branch_from=str(point))
    assert branch.step == 2
    branch.fit()
    assert long_run.history[:2] == straight.history[:2]  # the same lr before the branch point
    assert branch.history == straight.history[2:]  # the branch decays as the short run did: exact floats
    a, b = (load_checkpoint(p / "run").tensors for p in (tmp_path / "short", tmp_path / "branch"))
    undecayed = load_checkpoint(tmp_path / "long" / "run" / "checkpoints" / "step_00000004").tensors
    assert any(not torch.equal(a["model"][k], undecayed["model"][k]) for k in a["model"])  # the long run did not decay
    for group in ("model", "ema"):
        for k in a[group]:
            assert torch.equal(a[group][k], b[group][k]), (group, k)
    assert (tmp_path / "branch" / "run" / "model" / "model_index.json").is_file()
    assert (point / "state.pt").is_file()  # the source run is left as it was


def test_branch_refuses_a_missing_checkpoint_and_a_folder_holding_a_run(tmp_path, latent_cache):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        find_branch_point(tmp_path / "nothing", tmp_path / "new")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a checkpoint folder"):
        find_branch_point(tmp_path / "empty", tmp_path / "new")
    Trainer(tiny_config(tmp_path / "a", latent_cache, "train.steps=2", "train.ckpt_every=2"),
            show_progress=False).fit()
    run = tmp_path / "a" / "run"
    assert find_branch_point(run, tmp_path / "new").name == "step_00000002"  # a run folder: its newest
    with pytest.raises(ValueError, match="already holds checkpoints"):
        find_branch_point(run, run)


def test_branch_note_says_when_the_branch_is_not_a_complete_wsd_run(tmp_path, latent_cache):
    cfg = tiny_config(tmp_path, latent_cache, "train.lr_schedule=wsd", "train.decay_fraction=0.2", "train.steps=500")
    assert branch_note(400, cfg.train) == ""
    assert "train.steps=500" in branch_note(400, cfg.train.__class__(**{**vars(cfg.train), "steps": 600}))
    assert "nothing is left" in branch_note(500, cfg.train)
    cfg.train.lr_schedule = "cosine"
    assert "only wsd branches" in branch_note(400, cfg.train)


def test_cli_refuses_resume_and_branch_together(tmp_path):
    from typer.testing import CliRunner

    from patchflow.cli import app

    result = CliRunner().invoke(app, ["train", "--recipe", "debug", "--resume", "--branch-from", str(tmp_path),
                                      "--set", f"train.out_dir={tmp_path / 'run'}"])
    assert result.exit_code == 2 and "pass one" in result.output
