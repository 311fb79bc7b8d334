"""The tiny world the trainer tests run on (a module of its own: `conftest` names collide between folders)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "parallel"))  # spawn_util, shared with tests/parallel

from patchflow.recipes import resolve  # noqa: E402


def tiny_overrides(root: Path) -> list[str]:
    """The debug recipe on 8 world samples of one size: 2 image and 2 video batches of 2."""
    return [
        "world.n=8", 'world.sizes=["32x32"]', "world.frames=[1,9]",
        "data.buckets.max_batch=2", f"data.cache_dir={root}/data",
        f"train.out_dir={root}/run", "train.tensorboard=false", "train.log_every=1", "train.warmup_steps=2",
        "train.ckpt_every=0",
    ]


def tiny_config(root: Path, cache: Path | None, *extra: str):
    overrides = tiny_overrides(root) + ([f"data.latents={cache}"] if cache else []) + list(extra)
    return resolve("debug", overrides)
