"""world_captioner: the world captioner (patchflow/text/world_captioner.py), trained on a CPU in about 30 minutes.

`patchflow caption train --recipe world_captioner` reads section `captioner` and, from section `world`, the frame
sizes and clip lengths to draw training and held-out clips from. The other sections are world_tiny's, unused
by the captioner: the recipe stays a whole Config like every recipe.
"""

from dataclasses import replace

from patchflow.config import CaptionerConfig, Config
from patchflow.recipes.world_tiny import world_tiny


def world_captioner() -> Config:
    cfg = world_tiny()
    # Every size a recipe of the project renders (world_tiny's and the bench's, the debug model's small ones) and
    # every clip length (images, 1 to 8 s, the bench's 60 s): the captioner reads each clip's first 8 frames.
    world = replace(cfg.world, sizes=["64x64", "96x54", "54x96", "80x48", "48x80", "112x64", "64x112", "32x32",
                                      "48x32", "32x48"],
                    frames=[1, 9, 17, 33, 65, 481])
    # Short side 32: the world's small shapes are 5 px across there and still told apart by their moments
    # (a square's mu22 is 0.61-0.68, a disc's 0.43-0.45, a triangle's mu03 -0.53), at half the cost of 48.
    captioner = CaptionerConfig(frames=8, short_side=32, width=32, hidden=128, out_dir="runs/world_captioner",
                                steps=4000, batch_size=32, lr=5e-3, warmup_steps=100, feature_prob=0.3,
                                log_every=10, ckpt_every=250, val_every=250, val_clips=200)
    return replace(cfg, name="world_captioner", world=world, captioner=captioner)
