"""The built-in world as a data source: render `cfg.world` once into `cfg.data.cache_dir`, then reuse it.

The render lands in a folder named by a hash of the world config, with that config written beside
the manifest, so changing any world setting renders afresh while an unchanged one reuses the files
(and two configs never mix their samples).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from patchflow.config import Config, WorldConfig, to_dict

STAMP_NAME = "world_config.json"
# Bumped whenever the same world config renders different samples (2: scenes whose stated motion the
# opening frames undo are re-placed, patchflow/world/truthful.py), so old caches are rendered anew.
RENDER_VERSION = 2


def world_hash(world: WorldConfig) -> str:
    """A short stable hash of every world setting. Rung 0 (the full world) is left out, so the caches
    rendered before world.rung existed keep their names; any other rung renders a world of its own."""
    settings = to_dict(world)
    if settings["rung"] == 0:
        del settings["rung"]
    text = json.dumps({**settings, "render_version": RENDER_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_world_manifest(cfg: Config) -> Path:
    """Path of the world manifest for `cfg.world`, rendering it first when it is missing or stale."""
    digest = world_hash(cfg.world)
    out_dir = Path(cfg.data.cache_dir) / f"world-{digest}"
    stamp = out_dir / STAMP_NAME
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        manifest = out_dir / saved["manifest"]
        if saved.get("hash") == digest and manifest.exists():
            return manifest
    from patchflow.world.make import make_dataset  # imported late: rendering is only needed here

    w = cfg.world
    rung = {"rung": w.rung} if w.rung else {}  # the ladder (world/ladder.py); 0 draws from the full world
    manifest = Path(make_dataset(out_dir, w.n, w.sizes, w.frames, w.fps, w.seed, w.feature_prob, **rung))
    # Written last: an interrupted render leaves no stamp, so the next run renders again.
    stamp.write_text(json.dumps({"hash": digest, "world": to_dict(w),
                                 "manifest": str(manifest.resolve().relative_to(out_dir.resolve()))}, indent=2))
    return manifest
