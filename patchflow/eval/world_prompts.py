"""The world bench's prompt set: fixed, versioned data.

Every prompt is written in the world's vocabulary (shared/WORLD.md), so
`parse_caption` reads it into the facts the oracle judges. The set never
changes under a version: a new or edited prompt is a new BENCH_VERSION, so
numbers from two runs of one version compare.

A run takes the first K entries of each category, so the first entries of a
category are its most varied ones. Every entry has a seed offset fixed by its
place in the whole set: growing K never changes the videos of smaller K.
The quick subset (QUICK_IDS, `patchflow eval world --quick`) is a fixed list of
ids with the same seed offsets, so its samples are the full run's samples of
those ids; it is part of the version too. A rung of the difficulty ladder
(`--rung K`, world/ladder.py) keeps the prompts of its categories that its
world can show, with the same ids and seeds.

Sizes are multiples of 16 (valid for every patchflow model: the debug model
needs 8, world_tiny 8) and frame counts are 1 + 4k (the VAE's temporal factor).
"Framing" asks for vertical (64x112), horizontal (112x64) and square (64x64)
videos: 112:64 = 7:4 is the nearest multiple-of-16 size to 16:9 at this scale.
"""

from __future__ import annotations

from dataclasses import dataclass

BENCH_VERSION = "world-bench-v1"
FPS = 8.0
SQUARE, HORIZONTAL, VERTICAL = (64, 64), (112, 64), (64, 112)  # (width, height)
WIDE, TALL = (80, 48), (48, 80)  # 5:3 and 3:5, sizes the world models train on
CLIP = 17  # frames: 2 s at 8 fps, the default clip
LONG_FRAMES = 481  # 60 s at 8 fps


@dataclass(frozen=True)
class BenchPrompt:
    id: str  # "<category>-<index>", stable within a version
    category: str
    text: str
    width: int
    height: int
    num_frames: int
    fps: float
    seed_offset: int  # added to the run's seed: the place of the entry in the whole set

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps


# category -> [(text, (width, height), frames)]; one size and length unless the category is about them.
_SET: dict[str, list[tuple[str, tuple[int, int], int]]] = {
    "color": [(t, SQUARE, CLIP) for t in (
        "a red ball", "a blue box", "a yellow triangle", "a green disc", "a magenta block",
        "a cyan circle", "an orange square", "a white triangle")],
    "shape": [(t, SQUARE, CLIP) for t in (
        "a large orange triangle resting", "a large green ball sitting still", "a large blue box standing still",
        "a small red triangle", "a small yellow circle", "a small cyan square", "a large white disc",
        "a large magenta block")],
    "size": [(t, SQUARE, CLIP) for t in (
        "a small green ball", "a large red box", "a big yellow triangle", "a little blue disc",
        "a large cyan circle resting", "a small magenta square resting", "a small orange triangle",
        "a big white block")],
    "motion": [(t, SQUARE, CLIP) for t in (
        "a red ball moving left", "a blue box bouncing around", "a green triangle drifting up",
        "a yellow disc moving down", "a magenta ball sliding right quickly", "a cyan box resting",
        "an orange ball moving slowly to the right", "a white square bouncing around fast")],
    "two_objects": [(t, SQUARE, CLIP) for t in (
        "a red ball and a blue box", "a small green triangle moving left and a large yellow ball resting",
        "a cyan disc drifting up, while a magenta square stays still", "two balls on navy",
        "a white box moves right and an orange ball moves down", "two triangles",
        "a large red block rests; a small green ball bounces around", "a blue triangle and a yellow box")],
    "three_objects": [(t, SQUARE, CLIP) for t in (
        "a red ball, a green box and a blue triangle", "three shapes on gray",
        "a small yellow ball moving left, a small cyan box moving right and a small white triangle resting",
        "three balls", "a magenta disc, an orange block and a red triangle on navy",
        "three small boxes bouncing around", "a green ball, a blue ball and a yellow ball",
        "three objects on dark green")],
    "background": [(t, SQUARE, CLIP) for t in (
        "a red ball on navy", "a blue box on gray", "a yellow triangle on dark green", "a white ball on maroon",
        "a green box on black", "the background is gray. a small red ball rests.",
        "a cyan disc on maroon", "an orange triangle on navy")],
    "collisions": [(t, WIDE, 33) for t in (
        "a large red ball moves quickly to the right and a large blue ball moves quickly to the left",
        "two large boxes bounce around quickly", "a large green ball bouncing around fast and a large yellow box resting",
        "three large balls bounce around", "a large cyan box slides quickly to the left, while a large magenta "
        "ball moves quickly to the right", "a large white ball moves down fast and a large orange ball moves up fast",
        "two large balls bounce around quickly on navy", "a large red box bounces around and a large green box rests")],
    "fall_bounce": [(t, SQUARE, 33) for t in (
        "a red ball falls", "a large blue box drops and bounces", "a green triangle falls and bounces on the floor",
        "a small yellow ball dropping", "a large magenta ball drops to the floor and bounces",
        "a cyan box falls", "a small orange triangle falls", "a white ball falls on navy")],
    "pillar": [(t, SQUARE, 33) for t in (
        "a small red ball moving right behind a pillar", "a blue box slides left. a pillar stands in the foreground.",
        "a small green ball bouncing around with a pillar", "a large yellow box moving left behind a pillar",
        "a small cyan triangle moves to the right and a pillar hides whatever passes behind it",
        "a magenta ball bounces around behind a pillar", "a small orange box moving right with a pillar",
        "a small white ball moving left behind a pillar on navy")],
    "paint": [(t, SQUARE, 33) for t in (
        "a red ball moving right leaving a paint trail", "a blue box bounces around. the blue box paints a trail.",
        "a green ball moving down leaving a paint trail", "a yellow triangle moving left leaving a paint trail",
        "a magenta ball bounces around. a paint trail follows the magenta ball.",
        "a cyan box moving up leaving a paint trail", "an orange ball moving right leaving a paint trail on navy",
        "a white disc bouncing around leaving a paint trail")],
    "pan": [(t, SQUARE, 33) for t in (
        "a red ball resting as the camera pans left", "a blue box on navy. the camera pans right.",
        "a green triangle moving up as the camera pans right", "a yellow ball resting. the camera pans to the left.",
        "a magenta box on gray. the view pans to the right.", "a cyan ball moving down as the camera pans left",
        "a white triangle resting as the camera pans right", "an orange box on maroon. the camera pans left.")],
    "pong": [(t, SQUARE, 33) for t in (
        "a game of pong", "pong on navy", "a game of pong on gray", "pong on maroon", "pong on dark green",
        "a game of pong on black", "pong", "a game of pong on navy")],
    "framing": [(t, size, CLIP) for t, size in (
        ("a large red ball bouncing around", VERTICAL), ("a large blue box bouncing around", HORIZONTAL),
        ("a large green triangle bouncing around", SQUARE), ("a large yellow ball moving left fast", HORIZONTAL),
        ("a large cyan box moving down fast", VERTICAL), ("a large magenta ball and a large white box", SQUARE),
        ("a large orange ball moving right fast", HORIZONTAL), ("a large red triangle moving up fast", VERTICAL))],
    "durations": [(t, SQUARE, frames) for t, frames in (
        ("a red ball bouncing around", 65), ("a blue box moving right", 9), ("a green ball falls", 33),
        ("a yellow triangle moving down", 17), ("a cyan ball bouncing around on navy", 65),
        ("a magenta box moving left", 9), ("an orange ball moving up", 33), ("a white box bouncing around", 17))],
    "images": [(t, size, 1) for t, size in (
        ("a red ball on navy", SQUARE), ("a large blue box", WIDE), ("a small green triangle on gray", TALL),
        ("a yellow ball and a magenta box", SQUARE), ("a large cyan triangle on maroon", WIDE),
        ("three balls on black", SQUARE), ("an orange disc on dark green", TALL), ("a small white box", SQUARE))],
    # One minute of video: scored only when asked for (`long=True`), a model makes it window by window.
    "long": [(t, SQUARE, LONG_FRAMES) for t in (
        "a red ball and a blue box bounce around", "a small green ball moving right behind a pillar")],
}

CATEGORIES = tuple(c for c in _SET if c != "long")  # the default run
LONG_CATEGORY = "long"

# The quick subset: the first k of each category, about 3 minutes for the bundled model (models/world-tiny,
# 20 steps) on a 2-core CPU against about 4.5 for the first 8 of every category (estimated from the
# generate_s of its committed bench: ~1.45 s a 2 s clip, ~2.9 s a 4 s clip, ~0.3 s an image). Cheap samples
# get more places, so the subset judges more facts per second: six of each 2 s category, five of each 4 s
# category, the first six framing prompts (two of each aspect), the first four durations (8, 1, 4 and 2 s:
# one of each length) and all eight images.
_QUICK_COUNTS: dict[str, int] = {
    "color": 6, "shape": 6, "size": 6, "motion": 6, "two_objects": 6, "three_objects": 6, "background": 6,
    "collisions": 5, "fall_bounce": 5, "pillar": 5, "paint": 5, "pan": 5, "pong": 5,
    "framing": 6, "durations": 4, "images": 8,
}
QUICK_IDS: tuple[str, ...] = tuple(f"{c}-{i}" for c, k in _QUICK_COUNTS.items() for i in range(k))


def _build() -> list[BenchPrompt]:
    prompts = []
    for category, entries in _SET.items():
        for i, (text, (width, height), frames) in enumerate(entries):
            prompts.append(BenchPrompt(f"{category}-{i}", category, text, width, height, frames, FPS, len(prompts)))
    return prompts


PROMPTS: tuple[BenchPrompt, ...] = tuple(_build())


def select(n_per_category: int, long: bool = False, categories: tuple[str, ...] | None = None,
           rung: int = 0) -> list[BenchPrompt]:
    """The first `n_per_category` prompts of each category (all of a smaller category), in set order.
    With `rung` K > 0: of the rung's categories (unless named), only what its world shows (`for_rung`)."""
    if n_per_category < 1:
        raise ValueError(f"n_per_category must be at least 1, got {n_per_category}")
    wanted = categories or rung_categories(rung) or (CATEGORIES + ((LONG_CATEGORY,) if long else ()))
    unknown = set(wanted) - set(_SET)
    if unknown:
        raise ValueError(f"unknown bench categories {sorted(unknown)}; known: {list(_SET)}")
    chosen = [p for c in wanted for p in PROMPTS if p.category == c and int(p.id.rsplit("-", 1)[1]) < n_per_category]
    return for_rung(chosen, rung)


def select_quick(categories: tuple[str, ...] | None = None, rung: int = 0) -> list[BenchPrompt]:
    """The quick subset's prompts (of the named categories only, when given), in set order.
    With `rung` K > 0: of the rung's categories (unless named), only what its world shows (`for_rung`)."""
    wanted = categories or rung_categories(rung) or CATEGORIES
    unknown = set(wanted) - set(_QUICK_COUNTS)
    if unknown:
        raise ValueError(f"no quick bench prompts in categories {sorted(unknown)}; the quick subset covers: "
                         f"{list(_QUICK_COUNTS)}")
    quick = set(QUICK_IDS)
    return for_rung([p for c in wanted for p in PROMPTS if p.category == c and p.id in quick], rung)


# ----------------------------------------------------------------------------- the difficulty ladder


def rung_categories(rung: int) -> tuple[str, ...]:
    """The bench categories rung `rung` of the ladder teaches (patchflow/world/ladder.py); () for rung 0."""
    from patchflow.world.ladder import get_rung

    return get_rung(rung).categories if rung else ()


def why_left_out(prompt: BenchPrompt, rung: int) -> str | None:
    """Why the world of rung `rung` never shows this prompt (its size, length or a stated fact), or None."""
    from patchflow.world.ladder import unshowable
    from patchflow.world.parser import parse_caption

    return unshowable(rung, parse_caption(prompt.text), prompt.width, prompt.height, prompt.num_frames)


def for_rung(prompts: list[BenchPrompt], rung: int) -> list[BenchPrompt]:
    """The prompts a model trained on rung `rung` can be asked for: a rung-1 model (one object moving
    straight on navy, 2 s clips) is not scored on a resting box or a 4 s clip. Rung 0 keeps them all."""
    return [p for p in prompts if why_left_out(p, rung) is None] if rung else list(prompts)


__all__ = ["BENCH_VERSION", "BenchPrompt", "PROMPTS", "CATEGORIES", "LONG_CATEGORY", "QUICK_IDS", "select",
           "select_quick", "rung_categories", "why_left_out", "for_rung"]
