"""The world bench on the simulator (the ceiling, which must score >= 99%) and, when given, a model beside
its VAE ceiling (the simulator's truth encoded and decoded by the model's VAE: the most a DiT on it scores).

    python bench/world.py                            # world-truth, 8 prompts per category
    python bench/world.py --model models/world-tiny  # also the VAE ceiling and the model, side by side
    python bench/world.py --model models/world-tiny --quick   # the fixed quick subset (~3 min for the model)
    python bench/world.py --n-per-category 2 --long  # the first 2 of each category, with the 60 s samples
    python bench/world.py --json                     # one JSON object: {"world-truth": summary, ...}

Results go to runs/bench/<name>/ (summary.md, summary.json, sheets/). `make bench` runs the first line.
Every pass rate is shown with its Wilson 95 % interval.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from patchflow.eval.intervals import rate_with_interval  # noqa: E402
from patchflow.eval.world_bench import (  # noqa: E402
    bench_prompts,
    pipeline_generator,
    run_world_bench,
    truth_generator,
)
from patchflow.models.vae import vae_folder  # noqa: E402

TRUTH_FLOOR = 0.99  # below this the oracle, not the model, is what the bench measures


def pct(rate) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"


def side_by_side(summaries: dict[str, dict]) -> Table:
    t = Table(title="world bench: pass rate per category [95% interval]")
    t.add_column("category")
    for name in summaries:
        t.add_column(name, justify="right")
    categories = dict.fromkeys(c for s in summaries.values() for c in s["categories"])
    for c in categories:
        t.add_row(c, *[rate_with_interval(s["categories"][c]["passed"], s["categories"][c]["judged"])
                       if c in s["categories"] else "n/a" for s in summaries.values()])
    t.add_row("overall", *[rate_with_interval(s["passed"], s["judged"]) for s in summaries.values()], style="bold")
    t.add_row("appear / min", *[f"{s['appearances_per_min']:.2f}" for s in summaries.values()])
    t.add_row("vanish / min", *[f"{s['disappearances_per_min']:.2f}" for s in summaries.values()])
    return t


def vae_ceiling(model: str, prompts: list, device: str):
    """The truth through the model's VAE, streamed in the VAE's chunks."""
    from patchflow.eval.vae_ceiling import check_fits, through_vae
    from patchflow.models.vae import CausalVAE, load_vae

    vae = load_vae(model, device=device).eval()
    check_fits(prompts, vae.temporal_factor, vae.spatial_factor)
    chunk_frames = vae.cfg.chunk_frames if isinstance(vae, CausalVAE) else None  # diffusers VAEs stream themselves
    return through_vae(truth_generator(), vae, chunk_frames, device=device)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a model folder to bench beside the simulator and its VAE ceiling")
    ap.add_argument("--n-per-category", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="the fixed quick subset instead of the first K of each")
    ap.add_argument("--long", action="store_true", help="also the 60 s samples")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--guidance", type=float)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    prompts = bench_prompts(args.n_per_category, long=args.long, quick=args.quick)
    # column name -> (out folder, what made the videos, the generator's maker)
    runs = {"world-truth": ("world-truth", "world-truth", truth_generator)}
    if args.model:
        name = Path(args.model).name
        runs[f"{name} VAE ceiling"] = (f"{name}_vae_ceiling", f"world-truth through {vae_folder(args.model)}",
                                       lambda: vae_ceiling(args.model, prompts, args.device))
        runs[name] = (name, args.model, lambda: pipeline_generator(args.model, args.steps, args.guidance, args.device))
    summaries = {}
    for name, (folder, model, make) in runs.items():
        result = run_world_bench(make(), args.n_per_category, Path(args.out) / folder, seed=args.seed,
                                 progress=not args.json, long=args.long, model=model, quick=args.quick)
        summaries[name] = result.summary()
    if args.json:
        print(json.dumps(summaries))
    else:
        Console().print(side_by_side(summaries))
    truth = summaries["world-truth"]["overall"]
    if truth is None or truth < TRUTH_FLOOR:
        print(f"world-truth scored {pct(truth)}, under {pct(TRUTH_FLOOR)}: the oracle misjudges the simulator",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
