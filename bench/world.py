"""The world bench on the simulator (the ceiling, which must score >= 99%) and, when given, a model.

    python bench/world.py                            # world-truth, 2 prompts per category
    python bench/world.py --model models/world-tiny  # also the model, side by side
    python bench/world.py --n-per-category 8 --long  # the whole set, with the 60 s samples
    python bench/world.py --json                     # one JSON object: {"world-truth": summary, ...}

Results go to runs/bench/<name>/ (summary.md, summary.json, sheets/). `make bench` runs the first line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from patchflow.eval.world_bench import pipeline_generator, run_world_bench, truth_generator  # noqa: E402

TRUTH_FLOOR = 0.99  # below this the oracle, not the model, is what the bench measures


def pct(rate) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"


def side_by_side(summaries: dict[str, dict]) -> Table:
    t = Table(title="world bench: pass rate per category")
    t.add_column("category")
    for name in summaries:
        t.add_column(name, justify="right")
    categories = dict.fromkeys(c for s in summaries.values() for c in s["categories"])
    for c in categories:
        t.add_row(c, *[pct(s["categories"].get(c, {}).get("pass_rate")) for s in summaries.values()])
    t.add_row("overall", *[pct(s["overall"]) for s in summaries.values()], style="bold")
    t.add_row("appear / min", *[f"{s['appearances_per_min']:.2f}" for s in summaries.values()])
    t.add_row("vanish / min", *[f"{s['disappearances_per_min']:.2f}" for s in summaries.values()])
    return t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a model folder to bench beside the simulator")
    ap.add_argument("--n-per-category", type=int, default=2)
    ap.add_argument("--long", action="store_true", help="also the 60 s samples")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--guidance", type=float)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    runs = {"world-truth": truth_generator}
    if args.model:
        runs[Path(args.model).name] = lambda: pipeline_generator(args.model, args.steps, args.guidance, args.device)
    summaries = {}
    for name, make in runs.items():
        result = run_world_bench(make(), args.n_per_category, Path(args.out) / name, seed=args.seed,
                                 progress=not args.json, long=args.long, model=name)
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
