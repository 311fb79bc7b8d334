"""Does the background follow the text or the noise? A five-minute probe of a DiT's text conditioning.

    python bench/background_probe.py --model runs/world_tiny/model
    python bench/background_probe.py --model runs/world_tiny/model \\
        --checkpoint runs/world_tiny/checkpoints/step_00008000 --checkpoint runs/world_tiny/checkpoints/step_00016000

For each of the world's five backgrounds, "a red ball on BACKGROUND" is sampled with the same seeds (64x64,
9 frames, the model's sampler settings). A frame's background is its median colour, read as the nearest
background of the world's palette. Two numbers per model:

- follows text: the share of samples whose background is the stated one (chance: 20 %), with its Wilson
  95 % interval (20 samples are coarse: 15/20 is [53, 89] %);
- set by noise: the share of seeds that give one and the same background for all five prompts, i.e. the
  text did not move it at all (a model that follows the text scores 0 %, one that ignores it 100 %).

--guidance and --shift sample at another guidance scale or time shift than the model folder's (each row
records the two it used), so a probe tells a model that cannot follow the text from a sampler that does not
let it.

--checkpoint loads a training checkpoint's EMA weights (or another model folder's DiT) into the model
folder's pipeline, one row each, so a run's checkpoints show when text-following was learned or lost.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.eval.intervals import interval_text  # noqa: E402
from patchflow.world.palette import BACKGROUND_COLORS  # noqa: E402

PROMPT = "a red ball on {}"


def nearest_background(rgb) -> str:
    """The palette background closest (Euclidean, RGB 0-255) to a colour."""
    names = list(BACKGROUND_COLORS)
    palette = np.array([BACKGROUND_COLORS[n] for n in names], dtype=np.float32)  # (5, 3)
    return names[int(np.argmin(((palette - np.asarray(rgb, dtype=np.float32)) ** 2).sum(1)))]


def frame_background(frames: np.ndarray) -> str:
    """frames (T, H, W, 3) uint8 or [0, 1] float -> the nearest background to the median pixel of the video."""
    pixels = frames.reshape(-1, 3).astype(np.float32)  # (T, H, W, 3) -> (T*H*W, 3)
    if np.issubdtype(frames.dtype, np.floating):  # the pipeline's np output is [0, 1]
        pixels = pixels * 255.0
    return nearest_background(np.median(pixels, axis=0))


def score(seen: dict[tuple[str, int], str]) -> dict:
    """seen[(stated background, seed)] = background seen -> follows-text and set-by-noise shares."""
    stated = sorted({b for b, _ in seen})
    seeds = sorted({s for _, s in seen})
    follows = sum(seen[(b, s)] == b for b in stated for s in seeds) / len(seen)
    by_noise = sum(len({seen[(b, s)] for b in stated}) == 1 for s in seeds) / len(seeds)
    return {"follows_text": follows, "set_by_noise": by_noise, "samples": len(seen)}


def probe(pipe, seeds: int, steps: int | None, guidance: float | None = None) -> dict:
    seen = {}
    for background in BACKGROUND_COLORS:
        for seed in range(seeds):
            out = pipe(prompt=PROMPT.format(background), width=64, height=64, num_frames=9, generator=seed,
                       num_inference_steps=steps, guidance_scale=guidance)
            frames = out.frames[0] if isinstance(out.frames, list) else out.frames
            seen[(background, seed)] = frame_background(np.asarray(frames))
    return {**score(seen), "seen": {f"{b}/{s}": v for (b, s), v in seen.items()}}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a model folder (model_index.json)")
    ap.add_argument("--checkpoint", action="append", default=[],
                    help="a training checkpoint folder (checkpoints/step_N, its EMA weights) or a model folder "
                         "whose DiT replaces the model's (repeatable: one row each)")
    ap.add_argument("--seeds", type=int, default=4, help="seeds a background (default 4)")
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    ap.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's sample.guidance)")
    ap.add_argument("--shift", type=float, default=None,
                    help="the sampler's time shift (default: the model's sample.shift; 0 = the flow's token-count rule)")
    ap.add_argument("--out", help="append one JSON row a model to this file")
    args = ap.parse_args(argv)
    if not (Path(args.model) / "model_index.json").is_file():
        ap.error(f"{args.model}: no model folder (no model_index.json); pass what `patchflow train` exported")
    from patchflow.diffusion.guidance import load_guide_transformer
    from patchflow.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(args.model)
    if args.shift is not None:
        pipe.config.sample.shift = args.shift
    sampler = {"guidance": pipe.config.sample.guidance if args.guidance is None else args.guidance,
               "shift": pipe.config.sample.shift}
    rows = []
    for checkpoint in args.checkpoint or [None]:
        if checkpoint:  # the same loader autoguidance uses: model, DiT or checkpoint folder, checked alike
            pipe.transformer.load_state_dict(load_guide_transformer(checkpoint, pipe.transformer).state_dict())
        row = {"model": args.model, "weights": checkpoint or "(the folder's)", **sampler,
               **probe(pipe, args.seeds, args.steps, args.guidance)}
        followed = round(row["follows_text"] * row["samples"])
        print(f"{row['weights']} (guidance {row['guidance']:g}, shift {row['shift']:g}): "
              f"follows text {100 * row['follows_text']:.0f} % {interval_text(followed, row['samples'])}, "
              f"set by noise {100 * row['set_by_noise']:.0f} % ({row['samples']} samples)", flush=True)
        rows.append(row)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    return rows


if __name__ == "__main__":
    main()
