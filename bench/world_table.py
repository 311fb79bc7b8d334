"""World-bench summaries side by side, as the markdown table of docs/results.md, with the targets.

    python bench/world_table.py world-truth=runs/bench/truth.json world_tiny=models/world-tiny/bench.json \
        square=runs/world_tiny_square/bench.json

Each file is what `patchflow eval world --json` prints, or the bench folder's summary.json, which also
lists the samples: then the framing row is split by aspect (issue 7 asks for >= 90% in each of the
three). Target groups follow issue 7: "single object" pools the color, shape, size and motion
categories (facts passed / judged over all four).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    if not judged:
        return "-"
    rate = passed / judged
    mark = "" if target is None else (" ✓" if rate >= target else " ✗")
    return f"{100 * rate:.1f}% ({passed}/{judged}){mark}"


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
    overall = [f"**{100 * s['overall']:.1f}%**" for s in summaries.values()]
    lines.append("| **overall** | | " + " | ".join(overall) + " |")
    appear = [f"{s['appearances_per_min']:.2f}" + (" ✓" if s["appearances_per_min"] <= MAX_APPEARANCES_PER_MIN else " ✗")
              for s in summaries.values()]
    lines.append(f"| pop-ins per minute | <= {MAX_APPEARANCES_PER_MIN:g} | " + " | ".join(appear) + " |")
    lines.append("| pop-outs per minute | | " + " | ".join(f"{s['disappearances_per_min']:.2f}"
                                                       for s in summaries.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="NAME=PATH of a bench JSON summary")
    args = ap.parse_args()
    summaries = {}
    for item in args.runs:
        name, sep, path = item.partition("=")
        if not sep:
            ap.error(f"{item!r}: write NAME=PATH, e.g. world_tiny=models/world-tiny/bench.json")
        if not Path(path).is_file():
            ap.error(f"{path}: no such bench summary (make one with `patchflow eval world --json > {path}`)")
        summaries[name] = json.loads(Path(path).read_text())
    print(table(summaries))


if __name__ == "__main__":
    main()
