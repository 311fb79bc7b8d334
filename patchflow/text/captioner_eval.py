"""How many facts a captioner gets right on held-out world clips, read back with the world's parser.

Every clip comes from a fixed seed: held-out clips from seeds 0.. (and the in-training check from
VAL_SEED_BASE..), training clips from TRAIN_SEED_BASE.. (captioner_train.py), so the sets never share a
seed. A clip draws its size and frame count from the world's lists, then a scene, then a truthful
placement (world/make.py's `render_truthful`), exactly as `patchflow world make` draws a sample.

The caption a captioner writes is parsed (`world.parser.parse_caption`) and judged fact by fact against the
scene it was rendered from. A fact is judged only where the clip can show it:
- background and pong: always; for a game of pong nothing else (its caption names only the game);
- pillar, count (the number of objects named) and, per object: colour (an object of that colour is named),
  shape and size (of the object so named): always;
- camera: pans left, pans right or static; of an image only whether the camera moves (its stripes show a
  pan, a single frame not its way);
- motion, and speed for the motions that have one (left, right, up, down, bounce): clips of 2+ frames;
- paint (which object paints, or none): clips of 2+ frames, unless the painter stays still (its trail lies
  under it and no frame shows it).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from patchflow.eval.intervals import rate_with_interval
from patchflow.world.make import parse_size, render_truthful
from patchflow.world.parser import CaptionParseError, parse_caption
from patchflow.world.scene import SceneFacts, SceneSpec, sample_scene

VAL_SEED_BASE = 100_000_000  # in-training checks; held-out evaluation uses seeds 0 .. VAL_SEED_BASE - 1
TRAIN_SEED_BASE = 1_000_000_000  # training clips (captioner_train.py)
MOVING = ("left", "right", "up", "down", "bounce")
FACT_KINDS = ("background", "pong", "pillar", "camera", "paint", "count", "color", "shape", "size", "motion",
              "speed")


@dataclass(frozen=True)
class Clip:
    seed: int
    spec: SceneSpec
    video: np.ndarray  # (T, H, W, 3) uint8
    truth: dict  # render_scene's ground truth: per object and frame its centre (pixels) and visibility
    width: int
    height: int
    num_frames: int


def render_clip(seed: int, sizes: Sequence[str], frames: Sequence[int], fps: float, feature_prob: float,
                size: tuple[int, int] | None = None, keep_frames: int | None = None) -> Clip:
    """The clip of `seed`: its size (unless given) and frame count from the lists, a scene and a truthful render.

    `keep_frames` renders only the first frames of a longer clip: the same pixels (the physics of a frame
    depends only on earlier ones, and the truthful check reads only the opening), at a fraction of the cost.
    """
    rng = random.Random(seed)
    width, height = size or parse_size(rng.choice(list(sizes)))
    num_frames = int(rng.choice(list(frames)))
    rendered = min(num_frames, keep_frames) if keep_frames else num_frames
    while True:
        spec = sample_scene(rng, feature_prob)
        try:
            video, truth, _, _ = render_truthful(spec, width, height, rendered, fps, rng)
        except RuntimeError:  # a scene no placement shows truthfully at this size: draw another
            continue
        return Clip(seed, spec, video, truth, width, height, num_frames)


def judge(spec: SceneSpec, facts: SceneFacts, num_frames: int) -> list[tuple[str, bool]]:
    """(fact kind, right?) for every fact of `spec` that a clip of `num_frames` frames shows (module docstring)."""
    out = [("background", facts.background == spec.background), ("pong", bool(facts.pong) == spec.pong)]
    if spec.pong:
        return out
    moving = num_frames > 1
    said_pan = facts.pan if facts.pan in ("left", "right") else None
    out.append(("pillar", bool(facts.pillar) == spec.pillar))
    out.append(("camera", said_pan == spec.pan if moving else (said_pan is None) == (spec.pan is None)))
    painter = next((o for o in spec.objects if o.color == spec.paint), None)
    if moving and (painter is None or painter.motion != "still"):
        out.append(("paint", facts.paint == spec.paint))
    out.append(("count", len(facts.objects) == len(spec.objects)))
    named = {o.color: o for o in facts.objects if o.color}
    for o in spec.objects:
        got = named.get(o.color)
        out += [("color", got is not None), ("shape", got is not None and got.shape == o.shape),
                ("size", got is not None and got.size == o.size)]
        if moving:
            out.append(("motion", got is not None and got.motion == o.motion))
            if o.motion in MOVING:
                out.append(("speed", got is not None and got.speed == o.speed))
    return out


@dataclass
class FactsReport:
    """Facts right per kind, per frame size and per clip length: {key: [right, judged]}."""

    kinds: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    sizes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    lengths: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    clips: int = 0
    unparsed: int = 0  # captions the parser refused (every fact of such a clip counts as wrong)

    def add(self, clip: Clip, verdicts: list[tuple[str, bool]]) -> None:
        self.clips += 1
        for kind, ok in verdicts:
            for table, key in ((self.kinds, kind), (self.sizes, f"{clip.width}x{clip.height}"),
                               (self.lengths, clip.num_frames)):
                table[key][0] += ok
                table[key][1] += 1

    @property
    def right(self) -> int:
        return sum(r for r, _ in self.kinds.values())

    @property
    def judged(self) -> int:
        return sum(n for _, n in self.kinds.values())

    @property
    def rate(self) -> float:
        return self.right / max(1, self.judged)

    def rows(self) -> list[tuple[str, int, int, str]]:
        """(what, right, judged, "rate [95 % interval]") per fact kind, then overall."""
        rows = [(kind, *self.kinds[kind], rate_with_interval(*self.kinds[kind])) for kind in FACT_KINDS
                if kind in self.kinds]
        return [*rows, ("overall", self.right, self.judged, rate_with_interval(self.right, self.judged))]

    def to_dict(self) -> dict:
        return {"clips": self.clips, "unparsed": self.unparsed, "right": self.right, "judged": self.judged,
                "facts_right": self.rate,
                "kinds": {k: {"right": r, "judged": n, "rate": r / n} for k, (r, n) in self.kinds.items()},
                "sizes": {k: {"right": r, "judged": n, "rate": r / n} for k, (r, n) in self.sizes.items()},
                "frames": {str(k): {"right": r, "judged": n, "rate": r / n}
                           for k, (r, n) in sorted(self.lengths.items())}}


def facts_right(caption: Callable[[np.ndarray], str], n: int, sizes: Sequence[str], frames: Sequence[int],
                fps: float, feature_prob: float, first_seed: int = 0, on_clip: Callable[[], None] | None = None
                ) -> FactsReport:
    """Caption the held-out clips of seeds first_seed .. first_seed + n - 1 and judge every fact they show."""
    report = FactsReport()
    for seed in range(first_seed, first_seed + n):
        clip = render_clip(seed, sizes, frames, fps, feature_prob)
        text = caption(clip.video)
        try:
            verdicts = judge(clip.spec, parse_caption(text), clip.num_frames)
        except CaptionParseError:
            report.unparsed += 1
            verdicts = [(kind, False) for kind, _ in judge(clip.spec, SceneFacts(), clip.num_frames)]
        report.add(clip, verdicts)
        if on_clip is not None:
            on_clip()
    return report


__all__ = ["Clip", "render_clip", "judge", "FactsReport", "facts_right", "FACT_KINDS", "VAL_SEED_BASE",
           "TRAIN_SEED_BASE"]
