"""Facts right of a trained world captioner on held-out clips, per fact kind, frame size and clip length.

    python bench/captioner.py --model runs/world_captioner             # 1000 clips of world_captioner's world
    python bench/captioner.py --model models/world-tiny --n 300 --json

Clips come from the held-out seeds 0..n-1 (training never draws them; patchflow/text/captioner_eval.py), each
of a size and length drawn from the recipe's world section. A caption is parsed with the world's parser and
judged fact by fact against the scene it was rendered from; the table gives each rate with its 95 % Wilson
interval. `patchflow caption eval` prints the same table; this script adds the per-size and per-length table
and the seconds a caption takes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from patchflow.eval.intervals import rate_with_interval  # noqa: E402
from patchflow.recipes import get_recipe  # noqa: E402
from patchflow.text.captioner_eval import facts_right  # noqa: E402
from patchflow.text.world_captioner import load_world_captioner  # noqa: E402


def table(title: str, rows: list[tuple[str, int, int]]) -> Table:
    out = Table(title=title)
    for column in ("", "right", "judged", "rate [95 % interval]"):
        out.add_column(column)
    for what, right, judged in rows:
        out.add_row(what, str(right), str(judged), rate_with_interval(right, judged))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="captioner folder, run folder or model folder with captioner/")
    parser.add_argument("--n", type=int, default=1000, help="held-out clips")
    parser.add_argument("--recipe", default="world_captioner", help="recipe whose world section draws the clips")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()

    model = Path(args.model)
    captioner = load_world_captioner(model / "captioner" if (model / "checkpoints").is_dir() else model)
    world = get_recipe(args.recipe).world
    started = time.perf_counter()
    report = facts_right(captioner.caption, args.n, world.sizes, world.frames, captioner.cfg.fps, world.feature_prob)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({**report.to_dict(), "seconds": seconds}, indent=2))
        return
    console = Console()
    console.print(table(f"{model}: facts right on {args.n} held-out clips",
                        [(what, right, judged) for what, right, judged, _ in report.rows()]))
    console.print(table("by frame size", [(k, *v) for k, v in sorted(report.sizes.items())]))
    console.print(table("by clip length (frames)", [(str(k), *v) for k, v in sorted(report.lengths.items())]))
    console.print(f"{seconds / args.n * 1000:.1f} ms a clip (render, caption, parse); "
                  f"{report.unparsed} captions did not parse")


if __name__ == "__main__":
    main()
