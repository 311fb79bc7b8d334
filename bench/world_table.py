"""World-bench summaries side by side, as the markdown table of docs/results.md, with the targets.

    python bench/world_table.py world-truth=runs/bench/truth.json world_tiny=models/world-tiny/bench.json \
        square=runs/world_tiny_square/bench.json
    python bench/world_table.py runs/bench/ceiling/summary.json models/world-tiny/bench/summary.json

A column is any bench summary: what `patchflow eval world --json` prints, or the bench folder's
summary.json (of a model, of world-truth, of world-truth through a VAE, of the quick subset), named
NAME=PATH, or just PATH to be named by the summary's model (with "(quick)" for the quick subset).
summary.json also lists the samples: then the framing row is split by aspect (issue 7 asks for >= 90%
in each of the three). Target groups follow issue 7: "single object" pools the color, shape, size and
motion categories (facts passed / judged over all four). Every rate carries its Wilson 95 % interval
(eval/intervals.py): two columns whose intervals overlap are not told apart by these runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.eval.intervals import interval_text  # noqa: E402

# group -> (categories pooled, target pass rate or None)
GROUPS: dict[str, tuple[tuple[str, ...], float | None]] = {
    "single object (color, shape, size, motion)": (("color", "shape", "size", "motion"), 0.90),
    "two objects": (("two_objects",), 0.75),
    "three objects": (("three_objects",), None),
    "background": (("background",), 0.95),
    "collisions": (("collisions",), None),
    "fall and bounce": (("fall_bounce",), None),
    "pillar (permanence)": (("pillar",), 0.70),
    "paint (persistent state)": (("paint",), None),
    "pan (camera)": (("pan",), None),
    "pong": (("pong",), None),
    "framing (9:16, 16:9, 1:1)": (("framing",), 0.90),
    "durations (1-8 s)": (("durations",), None),
    "images": (("images",), None),
    "long (60 s)": (("long",), None),
}
MAX_APPEARANCES_PER_MIN = 1.0


def pooled(summary: dict, categories: tuple[str, ...]) -> tuple[int, int]:
    found = [summary["categories"][c] for c in categories if c in summary["categories"]]
    return sum(c["passed"] for c in found), sum(c["judged"] for c in found)


FRAMING_TARGET = 0.90


def aspect(width: int, height: int) -> str:
    return "1:1" if width == height else ("16:9" if width > height else "9:16")


def framing_by_aspect(summary: dict, name: str) -> tuple[int, int]:
    """Framing facts passed / judged over the samples of one aspect (needs summary.json's samples)."""
    found = [s for s in summary.get("samples", [])
             if s["category"] == "framing" and aspect(s["width"], s["height"]) == name]
    return sum(s["passed"] for s in found), sum(s["judged"] for s in found)


def cell(passed: int, judged: int, target: float | None) -> str:
    """'58.7% (27/46) ✗ [44.3, 71.7]': rate, counts, target met or missed (by the rate), 95 % interval."""
    if not judged:
        return "-"
    rate = passed / judged
    mark = "" if target is None else (" ✓" if rate >= target else " ✗")
    return f"{100 * rate:.1f}% ({passed}/{judged}){mark} {interval_text(passed, judged)}"


def overall_cell(summary: dict) -> str:
    """The bold overall rate and its interval, from the category counts (older summaries have no totals)."""
    passed, judged = pooled(summary, tuple(summary["categories"]))
    return f"**{100 * passed / judged:.1f}%** {interval_text(passed, judged)}" if judged else "-"


def column_name(summary: dict) -> str:
    """A column named by what made its videos; the quick subset says so (its rates pool other samples)."""
    quick = "subset" in summary and summary["subset"] == "quick"  # summaries before the quick subset lack it
    return summary["model"] + (" (quick)" if quick else "")


def table(summaries: dict[str, dict]) -> str:
    names = list(summaries)
    lines = ["| category | target | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for group, (categories, target) in GROUPS.items():
        counts = [pooled(s, categories) for s in summaries.values()]
        if not any(judged for _, judged in counts):
            continue
        goal = "" if target is None else f">= {100 * target:.0f}%"
        lines.append(f"| {group} | {goal} | " + " | ".join(cell(p, j, target) for p, j in counts) + " |")
        if categories == ("framing",) and any("samples" in s for s in summaries.values()):
            for name in ("9:16", "16:9", "1:1"):
                counts = [framing_by_aspect(s, name) for s in summaries.values()]
                lines.append(f"| framing, {name} only | >= {100 * FRAMING_TARGET:.0f}% | "
                             + " | ".join(cell(p, j, FRAMING_TARGET) for p, j in counts) + " |")
    lines.append("| **overall** | | " + " | ".join(overall_cell(s) for s in summaries.values()) + " |")
    appear = [f"{s['appearances_per_min']:.2f}" + (" ✓" if s["appearances_per_min"] <= MAX_APPEARANCES_PER_MIN else " ✗")
              for s in summaries.values()]
    lines.append(f"| pop-ins per minute | <= {MAX_APPEARANCES_PER_MIN:g} | " + " | ".join(appear) + " |")
    lines.append("| pop-outs per minute | | " + " | ".join(f"{s['disappearances_per_min']:.2f}"
                                                       for s in summaries.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="NAME=PATH or PATH of a bench JSON summary")
    args = ap.parse_args()
    summaries = {}
    for item in args.runs:
        name, path = item.split("=", 1) if "=" in item else ("", item)
        if not Path(path).is_file():
            ap.error(f"{path}: no such bench summary (make one with `patchflow eval world --json > {path}`, or "
                     "name a bench folder's summary.json)")
        summary = json.loads(Path(path).read_text())
        name = name or column_name(summary)
        if name in summaries:
            ap.error(f"two columns are named {name!r}; name them apart with NAME=PATH")
        summaries[name] = summary
    print(table(summaries))


if __name__ == "__main__":
    main()
