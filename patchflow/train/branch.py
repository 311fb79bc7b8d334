"""Branching a run: start from another run's checkpoint and continue into a new folder.

The use is the WSD schedule's (train/optim.py): a long run holds its lr constant until the last
`decay_fraction` of its steps, so a checkpoint of its stable phase at step k is also a checkpoint of a run of
K = k / (1 - decay_fraction) steps. Branched with train.steps=K into its own folder, it decays and finishes
as that complete shorter run, for the price of K - k steps (the report's 1x / 4x / 16x compute points from
one run: docs/results.md, "The scaling figure").

    patchflow train --recipe world_tiny --branch-from RUN/checkpoints/step_00006000 \\
        --set train.out_dir=RUN_1x --set train.steps=7500 ...
"""

from __future__ import annotations

from pathlib import Path

from patchflow.config import TrainConfig
from patchflow.train.checkpoint import CKPT_DIR, STATE_FILE, latest_checkpoint
from patchflow.train.optim import branch_steps, decay_start


def find_branch_point(branch_from: str | Path, out_dir: str | Path) -> Path:
    """The checkpoint folder to branch from (a checkpoint folder, or a run folder's newest checkpoint).

    Raises FileNotFoundError when there is none and ValueError when the branch would write into a folder
    that already holds a run (that is --resume's work, and a branch must not overwrite another run).
    """
    path, out_dir = Path(branch_from), Path(out_dir)
    if not path.exists():
        raise FileNotFoundError(f"--branch-from {path}: no such folder; pass a checkpoint folder "
                                f"(RUN/{CKPT_DIR}/step_...) or a run folder")
    if not (path / STATE_FILE).is_file():
        newest = latest_checkpoint(path)
        if newest is None:
            raise FileNotFoundError(f"--branch-from {path}: not a checkpoint folder and no run folder with one "
                                    f"(RUN/{CKPT_DIR}/step_...)")
        path = newest
    if latest_checkpoint(out_dir) is not None:
        raise ValueError(f"--branch-from writes a new run, but train.out_dir {out_dir} already holds checkpoints: "
                         "set another train.out_dir, or continue that run with --resume")
    return path


def run_folder_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint folder belongs to (RUN/checkpoints/step_N -> RUN)."""
    return checkpoint.parent.parent if checkpoint.parent.name == CKPT_DIR else checkpoint.parent


def branch_note(step: int, tc: TrainConfig) -> str:
    """What a person should know about a branch at `step` with these settings ('' when nothing)."""
    if step >= tc.steps:
        return f"the checkpoint is at step {step} and train.steps is {tc.steps}: nothing is left to train"
    if tc.lr_schedule != "wsd":
        return (f"lr_schedule {tc.lr_schedule!r} depends on train.steps: the branch follows a {tc.steps}-step "
                "run's lr from here, not its source's; only wsd branches finish as complete shorter runs")
    complete = branch_steps(step, tc.decay_fraction)
    if step > decay_start(tc.steps, tc.decay_fraction) or complete != tc.steps:
        return (f"a complete wsd run decaying from step {step} has train.steps={complete} "
                f"(decay_fraction {tc.decay_fraction}); this branch has {tc.steps}")
    return ""


__all__ = ["find_branch_point", "run_folder_of", "branch_note"]
