"""The scaling figure: the same prompts and seeds sampled by models trained with more and more compute, side by side.

    python bench/scaling_figure.py --model runs/scale_1x/model=1x --model runs/scale_4x/model=4x \\
        --model runs/scale_16x/model=16x --out docs/img/scaling.png
    python bench/scaling_figure.py --model a/model="1x (2e14)" --model b/model="4x (8e14)" \\
        --prompt "a red ball moving left" --prompt "two balls on navy" --seed 3 --shown-frames 6

One row per prompt, one column per model (2 to 4, named by their compute labels, left to right), and in
each cell a few evenly spaced frames of that model's video. Every model gets the same prompt, size, length,
steps, guidance and seed (the row's: --seed plus the row index), so the cells of a row differ only by the
model. Models are loaded one at a time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# one prompt per kind of difficulty: an object's motion, two objects, a collision, object permanence
DEFAULT_PROMPTS = ("a red ball moving left", "a small green triangle moving left and a large yellow ball resting",
                   "a large red ball moves quickly to the right and a large blue ball moves quickly to the left",
                   "a small red ball moving right behind a pillar")
LABEL_WIDTH = 180  # px of the prompt column
GAP = 6  # px between cells
FRAME_GAP = 1  # px between the frames of a cell


def sample_cells(models: list[str | Path], prompts: list[str], seed: int, width: int, height: int, num_frames: int,
                 steps: int | None, guidance: float | None, device: str = "cpu") -> list[list[np.ndarray]]:
    """cells[row][column]: (T, H, W, 3) uint8 video of prompt `row` by model `column`, seed = seed + row."""
    import torch

    from patchflow.pipeline import Pipeline, to_uint8

    cells: list[list[np.ndarray]] = [[] for _ in prompts]
    for model in models:
        pipe = Pipeline.from_pretrained(model, device=device)
        pipe.progress = False
        for row, prompt in enumerate(prompts):
            out = pipe(prompt, height=height, width=width, num_frames=num_frames, num_inference_steps=steps,
                       guidance_scale=guidance, generator=torch.Generator().manual_seed(seed + row), output_type="np")
            cells[row].append(to_uint8(out.frames)[0])  # (1, T, H, W, 3) float -> (T, H, W, 3) uint8
        del pipe
    return cells


def shown_frames(video: np.ndarray, shown: int) -> np.ndarray:
    """`shown` evenly spaced frames of a (T, H, W, 3) video, first and last included."""
    index = np.linspace(0, len(video) - 1, min(shown, len(video))).round().astype(int)
    return video[index]


def strip(video: np.ndarray, shown: int, scale: int) -> np.ndarray:
    """A cell: the shown frames side by side, each enlarged `scale` times (nearest), on white."""
    frames = shown_frames(video, shown).repeat(scale, axis=1).repeat(scale, axis=2)  # (S, H, W, 3) -> (S, sH, sW, 3)
    count, h, w = frames.shape[:3]
    canvas = np.full((h, count * w + (count - 1) * FRAME_GAP, 3), 255, np.uint8)
    for k, frame in enumerate(frames):
        canvas[:, k * (w + FRAME_GAP): k * (w + FRAME_GAP) + w] = frame
    return canvas


def compose(cells: list[list[np.ndarray]], prompts: list[str], labels: list[str], shown: int = 4,
            scale: int = 2) -> tuple[np.ndarray, dict[tuple[int, int], tuple[int, int]]]:
    """The figure (H, W, 3) uint8, and the (y, x) of each cell's top-left corner by (row, column)."""
    from patchflow.eval.world_bench import label_block

    strips = [[strip(video, shown, scale) for video in row] for row in cells]
    cell_w = max(s.shape[1] for row in strips for s in row)
    row_h = [max(max(s.shape[0] for s in row), label_block([(p, (20, 20, 20))], LABEL_WIDTH).shape[0])
             for row, p in zip(strips, prompts, strict=True)]
    headers = [label_block([(label, (20, 20, 20))], cell_w) for label in labels]
    header_h = max(h.shape[0] for h in headers)
    width = LABEL_WIDTH + len(labels) * (cell_w + GAP)
    canvas = np.full((header_h + sum(row_h) + GAP * len(row_h), width, 3), 255, np.uint8)
    for col, header in enumerate(headers):
        x = LABEL_WIDTH + GAP + col * (cell_w + GAP)
        canvas[:header.shape[0], x:x + header.shape[1]] = header
    corners = {}
    y = header_h + GAP
    for r, (row, prompt) in enumerate(zip(strips, prompts, strict=True)):
        text = label_block([(prompt, (20, 20, 20))], LABEL_WIDTH)
        canvas[y:y + text.shape[0], :LABEL_WIDTH] = text
        for col, cell in enumerate(row):
            x = LABEL_WIDTH + GAP + col * (cell_w + GAP)
            canvas[y:y + cell.shape[0], x:x + cell.shape[1]] = cell
            corners[(r, col)] = (y, x)
        y += row_h[r] + GAP
    return canvas, corners


def parse_model(text: str) -> tuple[str, str]:
    """'runs/a/model=4x' -> (folder, label); a folder without a label is labelled by its own name."""
    folder, _, label = text.partition("=")
    if not (Path(folder) / "model_index.json").is_file():
        raise SystemExit(f"--model {folder}: not a model folder (no model_index.json)")
    return folder, label or Path(folder).name


def main(argv=None) -> Path:
    from patchflow.media import write_image
    from patchflow.world.make import parse_size

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, metavar="FOLDER=LABEL",
                    help="a model folder and its compute label, 2 to 4 times, least compute first")
    ap.add_argument("--prompt", action="append", help=f"a row (repeatable); default: {len(DEFAULT_PROMPTS)} prompts")
    ap.add_argument("--seed", type=int, default=0, help="row r samples with seed + r, in every column")
    ap.add_argument("--size", default="64x64", help="WxH")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--steps", type=int, help="denoising steps (default: each model's)")
    ap.add_argument("--guidance", type=float, help="guidance scale (default: each model's)")
    ap.add_argument("--shown-frames", type=int, default=4, help="frames shown per cell")
    ap.add_argument("--scale", type=int, default=2, help="pixel enlargement of the frames")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="docs/img/scaling.png")
    args = ap.parse_args(argv)
    if not 2 <= len(args.model) <= 4:
        ap.error(f"give 2 to 4 --model FOLDER=LABEL, got {len(args.model)}")
    if args.shown_frames < 1 or args.scale < 1:
        ap.error("--shown-frames and --scale must be at least 1")
    models = [parse_model(m) for m in args.model]
    prompts = args.prompt or list(DEFAULT_PROMPTS)
    width, height = parse_size(args.size)
    cells = sample_cells([f for f, _ in models], prompts, args.seed, width, height, args.frames, args.steps,
                         args.guidance, args.device)
    figure, _ = compose(cells, prompts, [label for _, label in models], args.shown_frames, args.scale)
    path = write_image(Path(args.out), figure)
    print(f"wrote {path}", file=sys.stderr)
    return path


if __name__ == "__main__":
    main()
