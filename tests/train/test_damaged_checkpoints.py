"""Damaged run files (a cut checkpoint, a stale `latest`, a half-written metrics line) never stop a
resume that an older whole checkpoint can serve; when none can, one clear line. A save killed midway
leaves the previous checkpoint the newest."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from tiny_world import tiny_config, tiny_overrides
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.train import checkpoint as ckpt_module
from patchflow.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint
from patchflow.train.logging import MetricsLogger
from patchflow.train.trainer import Trainer


def squash(text: str) -> str:
    """Text without whitespace: rich wraps long lines (even inside a path) at the terminal's width."""
    return "".join(text.split())


def said(phrase: str, output: str) -> bool:
    return squash(phrase) in squash(output)


def cut(path, share=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])


DAMAGES = {
    "state.pt cut": lambda step: cut(step / "state.pt"),
    "model.safetensors cut": lambda step: cut(step / "model.safetensors"),
    "ema.safetensors gone": lambda step: (step / "ema.safetensors").unlink(),
    "latest names a missing folder": lambda step: shutil.rmtree(step),
}


@pytest.fixture(scope="module")
def three_checkpoints(tmp_path_factory, latent_cache):
    """A finished 3-step DiT run with a checkpoint after every step (copied by each test before damage)."""
    root = tmp_path_factory.mktemp("three")
    Trainer(tiny_config(root, latent_cache, "train.steps=3", "train.ckpt_every=1", "train.keep_checkpoints=0"),
            show_progress=False).fit()
    return root / "run"


def copy_run(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("damage", DAMAGES)
def test_resume_passes_over_a_damaged_newest_checkpoint(three_checkpoints, latent_cache, tmp_path, capsys, damage):
    run = copy_run(three_checkpoints, tmp_path)
    DAMAGES[damage](run / "checkpoints" / "step_00000003")
    cfg = tiny_config(tmp_path, latent_cache, "train.steps=4", "train.ckpt_every=1", "train.keep_checkpoints=0")
    trainer = Trainer(cfg, resume=True, show_progress=False)
    assert trainer.step == 2
    err = capsys.readouterr().err
    assert said("warning: skipped a damaged checkpoint", err) and said("step_00000003", err), err
    step2 = load_checkpoint(run / "checkpoints" / "step_00000002")
    for name, p in trainer.model.state_dict().items():
        assert torch.equal(p, step2.tensors["model"][name]), name
    trainer.fit()  # and the run goes on: the damaged step is trained again and saved whole
    assert load_checkpoint(run).step == 4 and load_checkpoint(run / "checkpoints" / "step_00000003").step == 3


def _sets(overrides):
    return [arg for o in overrides for arg in ("--set", o)]


def test_train_command_resumes_past_a_cut_checkpoint_and_a_half_written_metrics_line(three_checkpoints,
                                                                                     latent_cache, tmp_path):
    run = copy_run(three_checkpoints, tmp_path)
    cut(run / "checkpoints" / "step_00000003" / "model.safetensors")
    metrics = run / "metrics.jsonl"
    metrics.write_text(metrics.read_text()[:-25])  # killed while writing step 3's line
    overrides = [o for o in tiny_overrides(tmp_path)] + [f"data.latents={latent_cache}", "train.steps=4"]
    result = CliRunner().invoke(app, ["train", *_sets(overrides), "--resume"])
    out = result.output
    assert result.exit_code == 0, out
    assert said("skipped a damaged checkpoint", out) and said("model.safetensors does not read back", out)
    assert said("at step 2", out)
    assert said(f"{metrics}: dropped the half-written last line 3", out)
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]


def test_no_whole_checkpoint_is_one_clear_error(three_checkpoints, latent_cache, tmp_path):
    run = copy_run(three_checkpoints, tmp_path)
    for step in (run / "checkpoints").glob("step_*"):
        cut(step / "state.pt")
    with pytest.raises(CheckpointError, match="no whole checkpoint in .*step_00000001/state.pt does not read back"):
        load_checkpoint(run)
    overrides = tiny_overrides(tmp_path) + [f"data.latents={latent_cache}", "train.steps=4"]
    result = CliRunner().invoke(app, ["train", *_sets(overrides), "--resume"])
    assert result.exit_code == 2, result.output
    assert said("error: no whole checkpoint", result.output) and "Traceback" not in result.output
    assert squash(result.output).count(squash("does not read back")) == 3


def test_metrics_logger_drops_only_a_broken_last_line(tmp_path, capsys):
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 4, "lo')
    MetricsLogger(tmp_path, tensorboard=False, start_step=4).close()
    assert (tmp_path / "metrics.jsonl").read_text().splitlines() == lines
    assert said("dropped the half-written last line 4", capsys.readouterr().err)
    (tmp_path / "metrics.jsonl").write_text(lines[0] + '\n{"step": 2, "lo\n' + lines[2] + "\n")
    with pytest.raises(ValueError, match="metrics.jsonl line 2 is not JSON"):
        MetricsLogger(tmp_path, tensorboard=False, start_step=4)


# ----------------------------------------------------------------------------- saving


def tiny_tensors(value: float) -> dict:
    return {"model": {"w": torch.full((64, 64), value)}, "ema": {"w": torch.full((64, 64), value)}}


def half_then_raise(real):
    """A writer that gets halfway through its file and dies (a kill, a full disk)."""
    def write(obj, path, *args, **kwargs):
        real(obj, path, *args, **kwargs)
        cut(Path(path))
        raise OSError(28, "No space left on device")
    return write


@pytest.mark.parametrize("writer", ["torch.save", "save_file"])
def test_a_save_killed_midway_leaves_the_previous_checkpoint_newest(tmp_path, monkeypatch, writer):
    save_checkpoint(tmp_path, 1, tiny_tensors(1.0), {"note": "one"})
    with monkeypatch.context() as patch:
        if writer == "torch.save":
            patch.setattr(ckpt_module.torch, "save", half_then_raise(torch.save))
        else:
            patch.setattr(ckpt_module, "save_file", half_then_raise(ckpt_module.save_file))
        with pytest.raises(OSError, match="No space left"):
            save_checkpoint(tmp_path, 2, tiny_tensors(2.0), {"note": "two"})
    assert latest_checkpoint(tmp_path).name == "step_00000001"
    loaded = load_checkpoint(tmp_path, groups=("model", "ema"))
    assert loaded.step == 1 and loaded.skipped == [] and torch.equal(loaded.tensors["model"]["w"],
                                                                     torch.full((64, 64), 1.0))
    save_checkpoint(tmp_path, 2, tiny_tensors(2.0), {"note": "two"})  # the next save clears the half-written one
    assert load_checkpoint(tmp_path).step == 2
    assert not [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp-")]


# ----------------------------------------------------------------------------- the VAE run


VAE_SMALL = ["vae.base_width=8", "world.n=8", 'world.sizes=["32x32"]', "data.buckets.max_batch=4",
             "vae_train.log_every=1", "vae_train.warmup_steps=2", "vae_train.stats_batches=2", "vae_train.sheet_every=0"]


def test_vae_resume_passes_over_a_damaged_newest_checkpoint(tmp_path, tiny_root):
    from patchflow.recipes import resolve
    from patchflow.train.vae_trainer import train_vae

    sets = [*VAE_SMALL, f"train.out_dir={tmp_path / 'run'}", f"data.cache_dir={tiny_root}/vae_data",
            "vae_train.steps=4", "vae_train.ckpt_every=1"]
    first = train_vae(resolve("debug", sets), stop_after=3)
    assert first["steps"] == 3
    checkpoints = tmp_path / "run" / "vae_train" / "checkpoints"
    cut(checkpoints / "step_00000003" / "state.pt")
    result = CliRunner().invoke(app, ["vae", "train", *_sets(sets), "--resume"])
    out = result.output
    assert result.exit_code == 0, out
    assert said("skipped a damaged checkpoint", out) and said("step_00000003/state.pt", out)
    assert said("resumed VAE training at step 2", out)
    for step in checkpoints.glob("step_*"):
        cut(step / "model.safetensors")
    result = CliRunner().invoke(app, ["vae", "train", *_sets(sets), "--resume"])
    assert result.exit_code == 2 and said("error: no whole checkpoint", result.output), result.output
    assert "Traceback" not in result.output
