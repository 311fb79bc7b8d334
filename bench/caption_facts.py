"""How true the captions of a world manifest are: each column's text parsed and judged against the truth files.

    python bench/caption_facts.py runs/lang/captioned.jsonl --column text --column caption_original --column prompt

For a manifest the world wrote, or one made from it (every row names its `truth` JSON: truth_path), each named column's text is read with the world's parser and judged fact by fact against the
scene the clip was rendered from (text/captioner_eval.py's `judge`: the same facts the captioner's own eval
counts). A short prompt leaves facts unsaid: they count as not right, so its rate is how much of the clip
the text tells, not how often it lies. A text the parser refuses counts every fact of its clip as wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchflow.eval.intervals import interval_text  # noqa: E402
from patchflow.text.captioner_eval import FACT_KINDS, judge  # noqa: E402
from patchflow.world.parser import CaptionParseError, parse_caption  # noqa: E402
from patchflow.world.scene import SceneFacts, SceneSpec  # noqa: E402


def truth_path(row: dict, manifest: Path) -> Path:
    """The row's truth file: absolute as written, else in the world's folder: the one holding media/ when the
    row's media path is absolute (a manifest written elsewhere, e.g. by `patchflow data caption --out`), else
    the manifest's own folder (the world's manifest.jsonl)."""
    truth, media = Path(row["truth"]), Path(row["path"])
    if truth.is_absolute():
        return truth
    world = media.parent.parent if media.is_absolute() else manifest.parent  # WORLD/media/000000.mp4
    return world / truth


def score(manifest: Path, columns: list[str]) -> dict[str, dict]:
    """{column: {"right", "judged", "unparsed", "kinds": {kind: [right, judged]}}} over every row."""
    out = {c: {"right": 0, "judged": 0, "unparsed": 0, "kinds": defaultdict(lambda: [0, 0])} for c in columns}
    for n, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if "truth" not in row:
            raise ValueError(f"{manifest}:{n}: the row names no truth file; only manifests the world wrote "
                             "(patchflow world make) carry one")
        truth = json.loads(truth_path(row, manifest).read_text())
        spec = SceneSpec.from_dict(truth["spec"])
        for column in columns:
            if column not in row:
                raise ValueError(f"{manifest}:{n}: no column {column!r} (the row has {', '.join(sorted(row))})")
            try:
                verdicts = judge(spec, parse_caption(row[column]), truth["num_frames"])
            except CaptionParseError:
                out[column]["unparsed"] += 1
                verdicts = [(kind, False) for kind, _ in judge(spec, SceneFacts(), truth["num_frames"])]
            for kind, ok in verdicts:
                out[column]["kinds"][kind][0] += ok
                out[column]["kinds"][kind][1] += 1
                out[column]["right"] += ok
                out[column]["judged"] += 1
    return out


def table(scores: dict[str, dict]) -> str:
    kinds = [k for k in FACT_KINDS if any(k in s["kinds"] for s in scores.values())]
    lines = ["| facts right | " + " | ".join(scores) + " |", "|---|" + "---:|" * len(scores)]
    for kind in kinds:
        cells = [f"{100 * r / n:.1f}% ({r}/{n})" if n else "-"
                 for r, n in (s["kinds"].get(kind, (0, 0)) for s in scores.values())]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append("| **overall** | " + " | ".join(
        f"**{100 * s['right'] / s['judged']:.1f}%** {interval_text(s['right'], s['judged'])}" for s in scores.values())
        + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", type=Path, help="a JSONL manifest the world wrote (rows with `truth`)")
    ap.add_argument("--column", action="append", default=[], help="a text column to judge (repeatable; default: text)")
    args = ap.parse_args(argv)
    if not args.manifest.is_file():
        ap.error(f"{args.manifest}: no such manifest")
    try:
        scores = score(args.manifest, args.column or ["text"])
    except ValueError as e:
        ap.error(str(e))
    print(table(scores))
    return scores


if __name__ == "__main__":
    main()
