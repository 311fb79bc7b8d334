"""A run folder keeps the config it started with; --resume may change how long and how it logs, never
what the saved model is. Step counts that train nothing are errors, for the DiT and the VAE."""

import json

import pytest
from tiny_world import tiny_config, tiny_overrides
from typer.testing import CliRunner

from patchflow.cli import app
from patchflow.config import to_dict
from patchflow.recipes import resolve
from patchflow.train.run_config import DIT_FROZEN, RunConfigError, check_resume_config, config_changes
from patchflow.train.trainer import Trainer


def squash(text: str) -> str:
    return "".join(text.split())  # rich wraps long lines at the terminal's width, even inside a path


def said(phrase: str, output: str) -> bool:
    return squash(phrase) in squash(output)


def _sets(overrides):
    return [arg for o in overrides for arg in ("--set", o)]


@pytest.fixture(scope="module")
def two_step_run(tmp_path_factory, latent_cache):
    root = tmp_path_factory.mktemp("two")
    cfg = tiny_config(root, latent_cache, "train.steps=2")
    Trainer(cfg, show_progress=False).fit()
    return root, cfg


def test_the_run_folder_keeps_its_resolved_config(two_step_run):
    root, cfg = two_step_run
    assert json.loads((root / "run" / "config.json").read_text()) == to_dict(cfg)


def test_resume_refuses_overrides_that_change_the_model(two_step_run, latent_cache):
    root, _ = two_step_run
    args = ["train", *_sets(tiny_overrides(root) + [f"data.latents={latent_cache}", "train.steps=3"]), "--resume"]
    result = CliRunner().invoke(app, [*args, "--set", "dit.width=96", "--set", "text.max_length=16"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert said("error: --resume cannot change what the saved model is: dit.width 64 -> 96, "
                "text.max_length 32 -> 16", result.output)
    assert said(f"{root / 'run' / 'config.json'}", result.output)
    with pytest.raises(RunConfigError, match="vae.latent_channels 4 -> 8"):
        Trainer(tiny_config(root, latent_cache, "vae.latent_channels=8", "dit.in_channels=8"), resume=True, show_progress=False)


def test_resume_allows_and_prints_schedule_and_logging_changes(two_step_run, latent_cache, tmp_path):
    import shutil

    root, _ = two_step_run
    shutil.copytree(root / "run", tmp_path / "run")
    overrides = tiny_overrides(tmp_path) + [f"data.latents={latent_cache}", "train.steps=3", "train.log_every=2",
                                            "dit.attention=math"]
    result = CliRunner().invoke(app, ["train", *_sets(overrides), "--resume"])
    assert result.exit_code == 0, result.output
    assert said("resume: changed since the run started:", result.output)
    assert said("dit.attention \"sdpa\" -> \"math\"", result.output) and said("train.steps 2 -> 3", result.output)
    assert said("train.log_every 1 -> 2", result.output) and said("at step 2", result.output)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["steps"] == 3  # the folder now holds the config the run goes on with


def test_a_run_without_config_json_still_gets_one_line_on_a_shape_misfit(two_step_run, latent_cache, tmp_path):
    import shutil

    root, _ = two_step_run
    shutil.copytree(root / "run", tmp_path / "run")
    (tmp_path / "run" / "config.json").unlink()  # a run folder from before config.json was kept
    with pytest.raises(RunConfigError, match=r"step_00000002 does not fit the model this config builds: "
                                             r"adaln.linear.bias is \(384,\) there, \(576,\) here \(and 55 more\)"):
        Trainer(tiny_config(tmp_path, latent_cache, "dit.width=96", "train.steps=3"), resume=True,
                show_progress=False)


def test_frozen_keys_are_the_shape_deciding_ones():
    old = to_dict(resolve("debug"))
    new = to_dict(resolve("debug", ["dit.depth=3", "dit.attention=math", "vae.tile_size=64", "train.lr=0.01",
                                    "flow.cond_mix={\"none\": 1.0}", "train.vae_path=/elsewhere"]))
    changes = config_changes(old, new)
    assert changes["dit.depth"] == (2, 3) and changes["flow.cond_mix.first"] == (0.2, "(absent)")
    from patchflow.train.run_config import _frozen

    assert sorted(k for k in changes if _frozen(k, DIT_FROZEN)) == ["dit.depth", "train.vae_path"]


def test_check_resume_config_without_a_saved_config_checks_nothing(tmp_path):
    assert check_resume_config(tmp_path, resolve("debug"), DIT_FROZEN) is None


@pytest.mark.parametrize("steps", [-5, 0])
def test_step_counts_that_train_nothing_are_errors(tmp_path, steps):
    result = CliRunner().invoke(app, ["train", "--set", f"train.out_dir={tmp_path}/dit", "--set",
                                      f"train.steps={steps}"])
    assert result.exit_code == 2, result.output
    assert said(f"error: train.steps must be at least 1 (the optimizer steps to train to), got {steps}",
                result.output)
    result = CliRunner().invoke(app, ["vae", "train", "--set", f"train.out_dir={tmp_path}/vae", "--set",
                                      f"vae_train.steps={steps}"])
    assert result.exit_code == 2, result.output
    assert said(f"error: vae_train.steps must be at least 1 (the optimizer steps to train to), got {steps}",
                result.output)
    assert not (tmp_path / "dit").exists() and not (tmp_path / "vae").exists()
    with pytest.raises(ValueError, match="train.steps must be at least 1"):
        Trainer(resolve("debug", [f"train.out_dir={tmp_path}/dit", f"train.steps={steps}"]), show_progress=False)


VAE_SMALL = ["vae.base_width=8", "world.n=8", 'world.sizes=["32x32"]', "data.buckets.max_batch=4",
             "vae_train.log_every=1", "vae_train.warmup_steps=2", "vae_train.stats_batches=2", "vae_train.sheet_every=0"]


def test_vae_resume_keeps_the_vae_and_allows_more_steps(tmp_path, tiny_root):
    sets = [*VAE_SMALL, f"train.out_dir={tmp_path / 'run'}", f"data.cache_dir={tiny_root}/vae_data",
            "vae_train.steps=4"]
    result = CliRunner().invoke(app, ["vae", "train", *_sets(sets), "--stop-after", "2"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "run" / "vae_train" / "config.json").read_text())
    assert saved["vae"]["base_width"] == 8 and saved["vae_train"]["steps"] == 4
    for change, message in [("vae.base_width=16", "vae.base_width 8 -> 16"),
                            ("vae_train.disc_start=1", "no discriminator")]:
        bad = CliRunner().invoke(app, ["vae", "train", *_sets(sets + [change]), "--resume"])
        assert bad.exit_code == 2 and said(message, bad.output), bad.output
        assert "Traceback" not in bad.output
    result = CliRunner().invoke(app, ["vae", "train", *_sets(sets + ["vae_train.steps=3"]), "--resume"])
    assert result.exit_code == 0, result.output
    assert said("vae_train.steps 4 -> 3", result.output) and said("steps 3:", result.output)
