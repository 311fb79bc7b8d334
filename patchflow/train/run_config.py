"""What a run folder remembers of its config, and the checks a config passes before training starts.

    check_train_config(cfg, "dit")                         # bad step counts etc.: one clear ValueError
    changes = check_resume_config(run_dir, cfg, DIT_FROZEN)  # before --resume loads anything
    write_run_config(run_dir, cfg)                           # <run_dir>/config.json

A run folder keeps the resolved config of its latest start in `config.json` (the DiT run in
<train.out_dir>, the VAE run in <train.out_dir>/vae_train). `--resume` compares the new config with
it: keys that decide what the checkpoint's tensors are (their shapes, or what the inputs they were
trained on mean) must not change, since the run would fail to load or silently learn something else;
every other key (steps, learning-rate schedule, logging, validation, data loading) may, and the
changes are listed for the run's header.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from patchflow.config import Config, to_dict
from patchflow.train.optim import SCHEDULES

RUN_CONFIG = "config.json"

# Key prefixes that a resumed run must keep. The DiT's tensors depend on its own section, on the VAE
# whose latents it models (vae.*, train.vae_path) and on the text encoder whose tokens it reads.
DIT_FROZEN = ("dit.", "vae.", "text.", "train.vae_path")
# The VAE's tensors: its section, and the discriminator's width (its weights are in the checkpoint).
VAE_FROZEN = ("vae.", "vae_train.disc_width")
# Keys inside those sections that only choose how the same weights run, so they may change on resume.
RUNTIME_ONLY = {"dit.preset", "dit.attention", "vae.chunk_frames", "vae.tile_size", "vae.tile_overlap",
                "text.padding"}
ABSENT = "(absent)"  # a key one of the two configs does not have (a config written by an older schema)


class RunConfigError(ValueError):
    """A resume whose overrides would change the saved model; the message names each changed key."""


def check_train_config(cfg: Config, model: str) -> None:
    """The settings a training loop cannot run with, for `model` "dit" (`train.*`) or "vae" (`vae_train.*`).

    Raises ValueError naming the key, the value and the fix. The field types are checked by the config
    schema; these are the ranges.
    """
    if model == "dit":
        tc, section = cfg.train, "train"
        rules = [("steps", tc.steps >= 1, "at least 1 (the optimizer steps to train to)"),
                 ("grad_accum", tc.grad_accum >= 1, "at least 1 (micro-batches per step)"),
                 ("lr", tc.lr > 0, "above 0"),
                 ("lr_schedule", tc.lr_schedule in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
                 ("decay_fraction", 0 < tc.decay_fraction < 1, "between 0 and 1 (the share of steps the wsd "
                  "schedule decays over)")]
    elif model == "vae":
        tc, section = cfg.vae_train, "vae_train"
        rules = [("steps", tc.steps >= 1, "at least 1 (the optimizer steps to train to)"),
                 ("lr", tc.lr > 0, "above 0"),
                 ("log_every", tc.log_every >= 1, "at least 1 (steps between metrics lines)"),
                 ("ckpt_every", tc.ckpt_every >= 1, "at least 1 (steps between checkpoints)")]
    else:
        raise ValueError(f"model must be 'dit' or 'vae', got {model!r}")
    for key, ok, rule in rules:
        if not ok:
            raise ValueError(f"{section}.{key} must be {rule}, got {getattr(tc, key)}: "
                             f"set a valid one with --set {section}.{key}=...")


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay whole values."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _frozen(key: str, frozen: tuple[str, ...]) -> bool:
    """A key under a frozen section ("dit.") or a frozen key itself ("train.vae_path")."""
    if key in RUNTIME_ONLY:
        return False
    return any(key.startswith(f) if f.endswith(".") else key == f for f in frozen)


def config_changes(old: dict, new: dict) -> dict[str, tuple[object, object]]:
    """Dotted key -> (old value, new value) for every key whose value differs between two config dicts."""
    a, b = flatten(old), flatten(new)
    pairs = {k: (a[k] if k in a else ABSENT, b[k] if k in b else ABSENT) for k in sorted(a.keys() | b.keys())}
    return {k: pair for k, pair in pairs.items() if pair[0] != pair[1]}


def describe(changes: dict[str, tuple[object, object]]) -> str:
    return ", ".join(f"{k} {json.dumps(old)} -> {json.dumps(new)}" for k, (old, new) in changes.items())


def check_resume_config(run_dir: str | Path, cfg: Config, frozen: tuple[str, ...]) -> dict | None:
    """The changes since the run's config.json (None when the folder has none, as runs from before
    it was written); raises RunConfigError when a `frozen` key changed."""
    saved = Path(run_dir) / RUN_CONFIG
    if not saved.is_file():
        return None
    try:
        old = json.loads(saved.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise RunConfigError(f"{saved} does not read back ({e}); delete it to resume without the check") from e
    changes = config_changes(old, to_dict(cfg))
    locked = {k: v for k, v in changes.items() if _frozen(k, frozen)}
    if locked:
        raise RunConfigError(
            f"--resume cannot change what the saved model is: {describe(locked)} (the run started with the "
            f"values in {saved}); drop those overrides, or start a new run in another train.out_dir")
    return changes


def write_run_config(run_dir: str | Path, cfg: Config) -> Path:
    """<run_dir>/config.json, written to a temporary name and renamed (a crash leaves the old one)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{RUN_CONFIG}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
    os.replace(tmp, run_dir / RUN_CONFIG)
    return run_dir / RUN_CONFIG


def check_tensor_shapes(where: Path, saved: dict[str, torch.Tensor], model: dict[str, torch.Tensor]) -> None:
    """A checkpoint's weights against the model built from this config: one line naming the first misfit
    (the check for runs whose folder has no config.json to compare with)."""
    missing, extra = sorted(model.keys() - saved.keys()), sorted(saved.keys() - model.keys())
    misfits = [f"{k} is {tuple(saved[k].shape)} there, {tuple(model[k].shape)} here"
               for k in sorted(model.keys() & saved.keys()) if tuple(saved[k].shape) != tuple(model[k].shape)]
    misfits += [f"{k} is missing there" for k in missing] + [f"{k} is not in this model" for k in extra]
    if misfits:
        more = f" (and {len(misfits) - 1} more)" if len(misfits) > 1 else ""
        raise RunConfigError(f"checkpoint {where} does not fit the model this config builds: {misfits[0]}{more}; "
                             "resume with the model settings the run started with")


def report_changes(changes: dict | None, run_dir: str | Path, console) -> None:
    """The run header's lines about a resume: what changed since the run started, or why nothing was checked."""
    if changes is None:
        console.print(f"resume: {Path(run_dir) / RUN_CONFIG} not found (a run from before it was kept), "
                      "so the overrides were not compared with the run's start")
    elif changes:
        console.print(f"resume: changed since the run started: {describe(changes)}")
