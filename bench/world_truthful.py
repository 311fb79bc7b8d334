"""How often a world caption's stated motion was undone by the physics in the clip's opening, before
make_dataset re-rolled such renders, and whether the oracle sees the difference.

    python bench/world_truthful.py                 # 2000 samples of world_tiny's world, 40 + 40 oracle checks
    python bench/world_truthful.py --n 500 --oracle 0 --json

Samples are drawn exactly as make_dataset draws them for --seed (same random stream; nothing is
written). "Before the fix" is each sample's first render: the one make_dataset used to keep. The
oracle part renders kept and re-rolled first renders (clips of 9+ frames) and scores their pixels
against every fact of the scene (oracle.facts_of): the motion facts should pass more often on kept ones.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.progress import track  # noqa: E402

from patchflow.recipes import get_recipe  # noqa: E402
from patchflow.world.captions import make_caption, make_prompt  # noqa: E402
from patchflow.world.make import draw_scene, parse_size, render_truthful  # noqa: E402
from patchflow.world.oracle import facts_of, score  # noqa: E402
from patchflow.world.render import render_scene  # noqa: E402
from patchflow.world.truthful import KINDS  # noqa: E402


def first_seed(rng: random.Random) -> int:
    """The seed render_truthful will draw first, without moving `rng`."""
    probe = random.Random()
    probe.setstate(rng.getstate())
    return probe.randrange(2**31)


def motion_facts(spec, width: int, height: int, num_frames: int, fps: float, seed: int) -> tuple[int, int, int]:
    """(passed, judged, skipped) motion facts of the oracle on the clip's pixels."""
    frames, _ = render_scene(spec, width, height, num_frames, fps, seed)
    report = score(frames, facts_of(spec), fps)
    judged = [f for f in report.facts if f.name.endswith(".motion")]
    skipped = [f for f in report.skipped if f.name.endswith(".motion")]
    return sum(f.passed for f in judged), len(judged), len(skipped)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="samples to draw")
    ap.add_argument("--recipe", default="world_tiny", help="whose world section (sizes, frames, fps) to draw from")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--oracle", type=int, default=40, help="kept and re-rolled clips each to score with the oracle")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    world = get_recipe(args.recipe).world
    sizes, frames, fps = [parse_size(s) for s in world.sizes], [int(f) for f in world.frames], world.fps
    rng = random.Random(args.seed)
    first_kind: Counter = Counter()  # why the first render was undone, "" when it was kept
    by_frames: dict[int, Counter] = {}
    tries: Counter = Counter()
    picked = {"kept": [], "rerolled": []}  # (spec, width, height, num_frames, first seed) for the oracle
    start = time.perf_counter()
    for _ in track(range(args.n), description="sampling", transient=True, disable=args.json):
        spec, width, height, num_frames = draw_scene(rng, sizes, frames, world.feature_prob)
        seed = first_seed(rng)
        _, _, _, rejected = render_truthful(spec, width, height, num_frames, fps, rng)
        make_caption(spec, rng), make_prompt(spec, rng)  # as make_dataset does: the stream stays in step
        kind = rejected[0] if rejected else ""
        first_kind[kind] += 1
        by_frames.setdefault(num_frames, Counter())[kind] += 1
        tries[1 + len(rejected)] += 1
        group = picked["rerolled" if rejected else "kept"]
        if num_frames >= 9 and not spec.pong and len(group) < args.oracle:
            group.append((spec, width, height, num_frames, seed))
    seconds = time.perf_counter() - start

    undone = args.n - first_kind[""]
    result = {
        "samples": args.n, "seconds": round(seconds, 1),
        "undone_share": undone / args.n,
        "by_reason": {k: first_kind[k] / args.n for k in KINDS},
        "undone_share_by_frames": {f: 1 - c[""] / sum(c.values()) for f, c in sorted(by_frames.items())},
        "tries": dict(sorted(tries.items())),
    }
    oracle = {}
    for name, group in picked.items():
        passed = judged = skipped = whole = 0
        for spec, width, height, num_frames, seed in group:
            p, j, s = motion_facts(spec, width, height, num_frames, fps, seed)
            passed, judged, skipped, whole = passed + p, judged + j, skipped + s, whole + (p == j)
        oracle[name] = {"clips": len(group), "motion_facts_passed": passed, "motion_facts_judged": judged,
                        "motion_facts_skipped": skipped,
                        "pass_rate": passed / judged if judged else None,
                        "clips_all_motion_passed": whole / len(group) if group else None}
    result["oracle_first_render"] = oracle
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.n} samples of {args.recipe}'s world in {seconds:.1f} s")
    print(f"stated motion undone in the first render: {undone / args.n:.1%}")
    for k in KINDS:
        print(f"  {k:10s} {first_kind[k] / args.n:.1%}")
    for f, share in result["undone_share_by_frames"].items():
        print(f"  {f:3d}-frame clips: {share:.1%} undone")
    print(f"renders per sample with the re-roll: {result['tries']}")
    for name, o in oracle.items():
        if o["clips"]:
            print(f"oracle on {name} first renders ({o['clips']} clips): motion facts "
                  f"{o['motion_facts_passed']}/{o['motion_facts_judged']} pass ({o['motion_facts_skipped']} skipped), "
                  f"all motion facts pass in {o['clips_all_motion_passed']:.0%} of clips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
