"""Rendering a captioned data set of the world: media files, truth JSON, a manifest.

Layout under `out_dir`:
    media/000000.mp4 (or .png for one-frame samples)
    truth/000000.json   render truth + the scene spec and seed
    render_stats.json   how many renders were thrown away because physics undid a stated motion
    manifest.jsonl      one row per sample, Open-Sora's columns (docs/interfaces.md)

Every caption is true of its clip: a render whose opening does not show each object's stated motion
(truthful.py: two balls that collide at once, a box "moving up" from against the top wall) is
thrown away and the same scene is placed again from the same random stream, so a seed still
decides the whole data set.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from patchflow.media import write_image, write_video
from patchflow.world.captions import make_caption, make_prompt
from patchflow.world.ladder import scene_limits
from patchflow.world.render import check_size, render_scene
from patchflow.world.scene import SceneSpec, sample_scene
from patchflow.world.truthful import KINDS, OPENING_S, stated_motion_holds

# Placements tried per scene. One sample in nine needs a second (bench/world_truthful.py); the hardest
# scenes (three large fast objects in a square frame) keep one placement in six, so all 100 failing
# has odds below 1e-7.
MAX_TRIES = 100


def parse_size(text: str) -> tuple[int, int]:
    """'96x54' -> (96, 54); anything else, or a side below the minimum, is a ValueError."""
    parts = text.lower().strip().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"size {text!r} is not WxH (e.g. 64x64 or 96x54)")
    width, height = int(parts[0]), int(parts[1])
    check_size(width, height)
    return width, height


def draw_scene(rng: random.Random, sizes: Sequence[tuple[int, int]], frames: Sequence[int],
               feature_prob: float, rung: int = 0) -> tuple[SceneSpec, int, int, int]:
    """(spec, width, height, num_frames) of one sample, drawn as make_dataset draws them (rung: ladder.py)."""
    spec = sample_scene(rng, feature_prob, scene_limits(rung))
    width, height = rng.choice(sizes)
    return spec, width, height, rng.choice(frames)


def render_truthful(spec: SceneSpec, width: int, height: int, num_frames: int, fps: float,
                    rng: random.Random) -> tuple[np.ndarray, dict, int, list[str]]:
    """Render `spec` with seeds drawn from `rng` until its opening shows every stated motion:
    (video, truth, seed, the kinds of the renders thrown away). The scene (and so its caption) stays;
    only its placement, directions and pillar are drawn again."""
    rejected = []
    for _ in range(MAX_TRIES):
        seed = rng.randrange(2**31)
        video, truth = render_scene(spec, width, height, num_frames, fps, seed)
        verdict = stated_motion_holds(spec, truth)
        if verdict.ok:
            return video, truth, seed, rejected
        rejected.append(verdict.kind)
    raise RuntimeError(f"{MAX_TRIES} placements of a scene at {width}x{height} all undo a stated motion "
                       f"(last: {verdict.reason}); raise patchflow.world.make.MAX_TRIES or use larger frame sizes")


def sample_row(out_dir: Path, index: int, rng: random.Random, sizes: Sequence[tuple[int, int]],
               frames: Sequence[int], fps: float, feature_prob: float, rung: int = 0) -> tuple[dict, list[str]]:
    """Render one random sample to disk: its manifest row, and the kinds of the renders thrown away."""
    spec, width, height, num_frames = draw_scene(rng, sizes, frames, feature_prob, rung)
    video, truth, seed, rejected = render_truthful(spec, width, height, num_frames, fps, rng)
    text, prompt = make_caption(spec, rng), make_prompt(spec, rng)

    name = f"{index:06d}"
    media = Path("media") / (f"{name}.png" if num_frames == 1 else f"{name}.mp4")
    if num_frames == 1:
        write_image(out_dir / media, video[0])
    else:
        write_video(out_dir / media, video, fps)  # yuv444p: colours to the value
    truth_path = Path("truth") / f"{name}.json"
    (out_dir / truth_path).write_text(json.dumps({**truth, "spec": spec.to_dict(), "seed": seed,
                                                   "caption": text, "prompt": prompt}))
    row = {"path": media.as_posix(), "text": text, "prompt": prompt, "num_frames": num_frames,
           "height": height, "width": width, "aspect_ratio": round(height / width, 6), "fps": fps,
           "truth": truth_path.as_posix()}
    return row, rejected


def render_stats(rejected: list[list[str]]) -> dict:
    """What render_stats.json holds, from each sample's thrown-away renders."""
    kinds = Counter(kind for sample in rejected for kind in sample)
    return {"samples": len(rejected), "rerolled": sum(bool(r) for r in rejected),
            "rejected_renders": sum(kinds.values()), "reasons": {k: kinds[k] for k in KINDS},
            "most_tries": 1 + max(len(r) for r in rejected), "opening_s": OPENING_S}


def make_dataset(out_dir: str | Path, n: int, sizes: Sequence[str] = ("64x64", "96x54", "54x96"),
                 frames: Sequence[int] = (1, 17, 33), fps: float = 8, seed: int = 0,
                 feature_prob: float = 0.15, quiet: bool = False, rung: int = 0) -> Path:
    """Render `n` random captioned samples; returns the path of manifest.jsonl.

    Deterministic for a seed: one random stream decides every scene, size, length, placement and text.
    Renders that undo a stated motion are re-rolled and counted in render_stats.json beside the manifest.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    scene_limits(rung)  # an unknown rung fails before anything is written
    parsed_sizes = [parse_size(s) for s in sizes]
    if not frames or any(int(f) < 1 for f in frames):
        raise ValueError(f"frame counts must be >= 1, got {list(frames)}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    out_dir = Path(out_dir)
    (out_dir / "media").mkdir(parents=True, exist_ok=True)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    columns = (TextColumn("world"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    rows, rejected = [], []
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=quiet) as progress:
        for i in progress.track(range(n), description="rendering"):
            row, thrown = sample_row(out_dir, i, rng, parsed_sizes, [int(f) for f in frames], fps, feature_prob,
                                     rung)
            rows.append(row)
            rejected.append(thrown)
    (out_dir / "render_stats.json").write_text(json.dumps(render_stats(rejected), indent=2))
    manifest = out_dir / "manifest.jsonl"
    # Written whole at the end, so a half-made folder never looks complete.
    tmp = manifest.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tmp.replace(manifest)
    return manifest


__all__ = ["make_dataset", "parse_size", "draw_scene", "render_truthful", "MAX_TRIES"]
