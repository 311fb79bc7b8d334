"""world_rung1 .. world_rung4: the world_tiny DiT recipe on each rung of the difficulty ladder (world/ladder.py).

    patchflow data encode --recipe world_rung1 --out runs/world_rung1/latents --set train.vae_path=models/world-tiny
    patchflow train --recipe world_rung1 --set train.vae_path=models/world-tiny \\
        --set data.latents=runs/world_rung1/latents
    patchflow eval world --model runs/world_rung1/model --quick --rung 1

Everything but the world is world_tiny's, its VAE section included, so world_tiny's trained VAE is the one
to pass as train.vae_path. What changes: the world (world.rung, and the rung's sizes and clip lengths, which
the buckets' frame counts follow), the folders (one data cache for the whole ladder: each world renders into
a folder named by its hash) and the checkpoints (every 10 % of the run, all kept, for autoguidance and
post-hoc EMA; about 65 MB each with the tiny DiT).

This module defines several recipes, so it names them in RECIPES (patchflow/recipes/__init__.py reads it).
"""

from __future__ import annotations

import dataclasses
import functools

from patchflow.config import Config
from patchflow.recipes.world_tiny import world_tiny
from patchflow.world.ladder import RUNGS, get_rung

# distinct world samples: rungs 1-2 hold at most 8 colours x 3 shapes x 2 sizes x 5 motions x 2 speeds
# x 5 backgrounds = 2,400 captions' worth of scenes; rungs 3-4 hold far more, as world_tiny does
SAMPLES = {1: 2000, 2: 2000, 3: 4000, 4: 4000}
# about 30 CPU-minutes on rung 1 with the 2-core development CPU (1,500 steps took 15.6 min: docs, SMALL-COMPUTE)
STEPS = 3000


def world_rung(number: int) -> Config:
    """world_tiny's DiT recipe on the world of rung `number` (1..4)."""
    rung = get_rung(number)
    cfg = world_tiny()
    cfg.name = f"world_rung{number}"
    cfg.world = dataclasses.replace(cfg.world, n=SAMPLES[number], sizes=list(rung.sizes), frames=list(rung.frames),
                                    rung=number)
    cfg.data.cache_dir = "runs/ladder/data"
    cfg.data.buckets.frames = list(rung.frames)  # the clip lengths the world renders
    cfg.train = dataclasses.replace(cfg.train, out_dir=f"runs/world_rung{number}", steps=STEPS,
                                    ckpt_every=STEPS // 10, keep_checkpoints=0, val_every=STEPS // 10)
    return cfg


RECIPES = {f"world_rung{k}": functools.partial(world_rung, k) for k in RUNGS}

__all__ = ["world_rung", "RECIPES"]
