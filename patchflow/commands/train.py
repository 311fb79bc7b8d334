"""`patchflow train`: train the diffusion transformer (one process, or many under torchrun).

    patchflow train --recipe debug --set train.steps=50
    torchrun --nproc_per_node 2 -m patchflow train --recipe debug --set train.parallel=fsdp
    patchflow train --recipe debug --branch-from runs/debug/checkpoints/step_00000040 \
        --set train.out_dir=runs/debug_short --set train.lr_schedule=wsd --set train.steps=50
"""

from __future__ import annotations

import typer

from patchflow.commands.common import RecipeOpt, SetOpt, fail, load_config


def command(
    recipe: str = RecipeOpt,
    set: list[str] = SetOpt,  # noqa: A002 (the option is --set)
    data: str = typer.Option("", "--data", help="manifest (JSONL/CSV/Parquet); default: data.manifest or the world"),
    resume: bool = typer.Option(False, "--resume", help="continue from the latest checkpoint in train.out_dir"),
    branch_from: str = typer.Option("", "--branch-from", help="start from this checkpoint of another run (or a run "
                                    "folder's newest) and continue into train.out_dir: a wsd run's stable-phase "
                                    "checkpoint finishes as a complete shorter run"),
) -> None:
    """Train the DiT; writes checkpoints, metrics and finally <train.out_dir>/model."""
    from patchflow.parallel.mesh import destroy, init_distributed, launched_by_torchrun

    info = init_distributed()
    cfg = load_config(recipe, set, show=info.is_main)
    from patchflow.train.checkpoint import latest_checkpoint
    from patchflow.train.run_config import check_train_config
    from patchflow.train.trainer import Trainer

    try:
        check_train_config(cfg, "dit")
    except ValueError as e:
        fail(str(e))
    if resume and branch_from:
        fail("--resume continues train.out_dir, --branch-from starts a new run from another's checkpoint: pass one")
    if resume and latest_checkpoint(cfg.train.out_dir) is None:
        fail(f"--resume: no checkpoint in {cfg.train.out_dir}")
    try:
        Trainer(cfg, data=data or None, resume=resume, branch_from=branch_from).fit()
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    finally:
        if launched_by_torchrun():
            destroy()
