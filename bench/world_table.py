"""World-bench summaries side by side, as the markdown table of docs/results.md, with the targets.

    python bench/world_table.py world-truth=runs/bench/truth.json world_tiny=models/world-tiny/bench.json \
        square=runs/world_tiny_square/bench.json
    python bench/world_table.py runs/bench/ceiling/summary.json models/world-tiny/bench/summary.json

A column is any bench summary: what `patchflow eval world --json` prints, or the bench folder's
summary.json (of a model, of world-truth, of world-truth through a VAE, of the quick subset), named
NAME=PATH, or just PATH to be named by the summary's model (with "(quick)" for the quick subset).
NAME=PATH+PATH+... pools several runs into one column (the same prompts at other --seed values: facts
passed / judged summed per category, pop-ins per minute over all their video minutes), so a column can hold
more samples than one run of the bench draws.
summary.json also lists the samples: then the framing row is split by aspect (issue 7 asks for >= 90%
in each of the three). "single object" pools the color, shape, size and motion categories (facts passed /
judged over all four). --targets picks the set of targets marked ✓ / ✗: issue13 (the default: the bundled
model's targets today) or issue7 (the older, stricter set of the first bench tables). Every rate carries
its Wilson 95 % interval (eval/intervals.py): two columns whose intervals overlap are not told apart by
these runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.eval.intervals import interval_text  # noqa: E402

# group -> categories pooled
GROUPS: dict[str, tuple[str, ...]] = {
    "single object (color, shape, size, motion)": ("color", "shape", "size", "motion"),
    "two objects": ("two_objects",),
    "three objects": ("three_objects",),
    "background": ("background",),
    "collisions": ("collisions",),
    "fall and bounce": ("fall_bounce",),
    "pillar (permanence)": ("pillar",),
    "paint (persistent state)": ("paint",),
    "pan (camera)": ("pan",),
    "pong": ("pong",),
    "framing (9:16, 16:9, 1:1)": ("framing",),
    "durations (1-8 s)": ("durations",),
    "images": ("images",),
    "long (60 s)": ("long",),
}


class Targets(NamedTuple):  # a NamedTuple, not a dataclass: the tests load this file without a package
    """Pass-rate targets by group (groups not named have none), framing's in each aspect, overall, pop-ins."""

    groups: dict[str, float]
    framing_each_aspect: float
    overall: float | None
    max_appearances_per_min: float


TARGETS = {
    # issue 13's targets for the bundled model, on the full bench (8 prompts a category)
    "issue13": Targets({"single object (color, shape, size, motion)": 0.85, "background": 0.95,
                        "pillar (permanence)": 0.60, "framing (9:16, 16:9, 1:1)": 0.85},
                       framing_each_aspect=0.85, overall=0.75, max_appearances_per_min=5.0),
    # issue 7's, the first bench tables'
    "issue7": Targets({"single object (color, shape, size, motion)": 0.90, "two objects": 0.75, "background": 0.95,
                       "pillar (permanence)": 0.70, "framing (9:16, 16:9, 1:1)": 0.90},
                      framing_each_aspect=0.90, overall=None, max_appearances_per_min=1.0),
}


def pool(summaries: list[dict]) -> dict:
    """One summary of several runs: category counts summed, samples joined, per-minute rates over all minutes."""
    if len(summaries) == 1:
        return summaries[0]
    minutes = [s.get("video_minutes") for s in summaries]
    if any(m is None for m in minutes):
        raise ValueError("pooling needs each summary's video_minutes (summaries from before it was written lack it)")
    categories: dict[str, dict] = {}
    for s in summaries:
        for name, c in s["categories"].items():
            into = categories.setdefault(name, {"passed": 0, "judged": 0, "samples": 0})
            for key in into:
                into[key] += c.get(key, 0)
    total = sum(minutes)
    per_min = {key: sum(s[key] * m for s, m in zip(summaries, minutes, strict=True)) / total
               for key in ("appearances_per_min", "disappearances_per_min")}
    models = sorted({s["model"] for s in summaries})
    return {"model": " + ".join(models), "subset": summaries[0].get("subset"), "categories": categories,
            "video_minutes": total, "samples": [x for s in summaries for x in s.get("samples", [])],
            "seeds": [s.get("seed") for s in summaries], **per_min}


def pooled(summary: dict, categories: tuple[str, ...]) -> tuple[int, int]:
    found = [summary["categories"][c] for c in categories if c in summary["categories"]]
    return sum(c["passed"] for c in found), sum(c["judged"] for c in found)


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


def overall_cell(summary: dict, target: float | None) -> str:
    """The bold overall rate, target mark and interval, from the category counts (older summaries have no totals)."""
    passed, judged = pooled(summary, tuple(summary["categories"]))
    if not judged:
        return "-"
    mark = "" if target is None else (" ✓" if passed / judged >= target else " ✗")
    return f"**{100 * passed / judged:.1f}%**{mark} {interval_text(passed, judged)}"


def column_name(summary: dict) -> str:
    """A column named by what made its videos; the quick subset says so (its rates pool other samples)."""
    quick = "subset" in summary and summary["subset"] == "quick"  # summaries before the quick subset lack it
    return summary["model"] + (" (quick)" if quick else "")


def goal_text(target: float | None, unit: str = "%") -> str:
    return "" if target is None else f">= {100 * target:.0f}{unit}"


def table(summaries: dict[str, dict], targets: Targets = TARGETS["issue13"]) -> str:
    names = list(summaries)
    lines = ["| category | target | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for group, categories in GROUPS.items():
        target = targets.groups.get(group)
        counts = [pooled(s, categories) for s in summaries.values()]
        if not any(judged for _, judged in counts):
            continue
        lines.append(f"| {group} | {goal_text(target)} | " + " | ".join(cell(p, j, target) for p, j in counts) + " |")
        if categories == ("framing",) and any("samples" in s for s in summaries.values()):
            for name in ("9:16", "16:9", "1:1"):
                counts = [framing_by_aspect(s, name) for s in summaries.values()]
                lines.append(f"| framing, {name} only | {goal_text(targets.framing_each_aspect)} | "
                             + " | ".join(cell(p, j, targets.framing_each_aspect) for p, j in counts) + " |")
    lines.append(f"| **overall** | {goal_text(targets.overall)} | "
                 + " | ".join(overall_cell(s, targets.overall) for s in summaries.values()) + " |")
    limit = targets.max_appearances_per_min
    appear = [f"{s['appearances_per_min']:.2f}" + (" ✓" if s["appearances_per_min"] <= limit else " ✗")
              for s in summaries.values()]
    lines.append(f"| pop-ins per minute | <= {limit:g} | " + " | ".join(appear) + " |")
    lines.append("| pop-outs per minute | | " + " | ".join(f"{s['disappearances_per_min']:.2f}"
                                                       for s in summaries.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="NAME=PATH or PATH of a bench JSON summary; PATH+PATH pools runs")
    ap.add_argument("--targets", choices=sorted(TARGETS), default="issue13",
                    help="which targets to mark met (✓) or missed (✗); default: issue13")
    args = ap.parse_args()
    summaries = {}
    for item in args.runs:
        name, paths = item.split("=", 1) if "=" in item else ("", item)
        for path in paths.split("+"):
            if not Path(path).is_file():
                ap.error(f"{path}: no such bench summary (make one with `patchflow eval world --json > {path}`, or "
                         "name a bench folder's summary.json)")
        try:
            summary = pool([json.loads(Path(path).read_text()) for path in paths.split("+")])
        except ValueError as e:
            ap.error(f"{paths}: {e}")
        name = name or column_name(summary)
        if name in summaries:
            ap.error(f"two columns are named {name!r}; name them apart with NAME=PATH")
        summaries[name] = summary
    print(table(summaries, TARGETS[args.targets]))


if __name__ == "__main__":
    main()
