"""Rendering a captioned data set of the world: media files, truth JSON, a manifest.

Layout under `out_dir`:
    media/000000.mp4 (or .png for one-frame samples)
    truth/000000.json   render truth + the scene spec and seed
    manifest.jsonl      one row per sample, Open-Sora's columns (docs/interfaces.md)
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from patchflow.data.video_io import write_image, write_video
from patchflow.world.captions import make_caption, make_prompt
from patchflow.world.render import check_size, render_scene
from patchflow.world.scene import sample_scene


def parse_size(text: str) -> tuple[int, int]:
    """'96x54' -> (96, 54); anything else, or a side below the minimum, is a ValueError."""
    parts = text.lower().strip().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"size {text!r} is not WxH (e.g. 64x64 or 96x54)")
    width, height = int(parts[0]), int(parts[1])
    check_size(width, height)
    return width, height


def sample_row(out_dir: Path, index: int, rng: random.Random, sizes: Sequence[tuple[int, int]],
               frames: Sequence[int], fps: float, feature_prob: float) -> dict:
    """Render one random sample to disk and return its manifest row."""
    spec = sample_scene(rng, feature_prob)
    width, height = rng.choice(sizes)
    num_frames = rng.choice(frames)
    seed = rng.randrange(2**31)
    text, prompt = make_caption(spec, rng), make_prompt(spec, rng)
    video, truth = render_scene(spec, width, height, num_frames, fps, seed)

    name = f"{index:06d}"
    media = Path("media") / (f"{name}.png" if num_frames == 1 else f"{name}.mp4")
    if num_frames == 1:
        write_image(out_dir / media, video[0])
    else:
        write_video(out_dir / media, video, fps)  # yuv444p: colours to the value
    truth_path = Path("truth") / f"{name}.json"
    (out_dir / truth_path).write_text(json.dumps({**truth, "spec": spec.to_dict(), "seed": seed,
                                                   "caption": text, "prompt": prompt}))
    return {"path": media.as_posix(), "text": text, "prompt": prompt, "num_frames": num_frames,
            "height": height, "width": width, "aspect_ratio": round(height / width, 6), "fps": fps,
            "truth": truth_path.as_posix()}


def make_dataset(out_dir: str | Path, n: int, sizes: Sequence[str] = ("64x64", "96x54", "54x96"),
                 frames: Sequence[int] = (1, 17, 33), fps: float = 8, seed: int = 0,
                 feature_prob: float = 0.15, quiet: bool = False) -> Path:
    """Render `n` random captioned samples; returns the path of manifest.jsonl.

    Deterministic for a seed: one random stream decides every scene, size, length and text.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
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
    rows = []
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=quiet) as progress:
        for i in progress.track(range(n), description="rendering"):
            rows.append(sample_row(out_dir, i, rng, parsed_sizes, [int(f) for f in frames], fps, feature_prob))
    manifest = out_dir / "manifest.jsonl"
    # Written whole at the end, so a half-made folder never looks complete.
    tmp = manifest.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tmp.replace(manifest)
    return manifest


__all__ = ["make_dataset", "parse_size"]
