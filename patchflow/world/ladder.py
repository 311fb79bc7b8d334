"""The difficulty ladder (issue 13): worlds of growing difficulty, each rung holding everything below it.

    rung 0  the full world as configured (world.sizes, world.frames, world.feature_prob): no limits
    rung 1  one object on navy, the four straight motions (every colour, shape, size, both speeds); 64x64, 2 s
    rung 2  + every background, and still objects                                                  ; 64x64, 2 s
    rung 3  + two and three objects (so collisions), fall and bounce        ; 64x64 and the wide 80x48, 2 and 4 s
    rung 4  + pillar, paint, pan and pong; the seven world_tiny sizes; images and clips of 1 to 4 s

`world.rung = K` limits what the world draws (`scene.SceneLimits`, used by make_dataset and the held-out
validation set); the recipes world_rung1..4 (patchflow/recipes/ladder.py) also set world.sizes and
world.frames to the rung's. Each rung names the bench categories (eval/world_prompts.py) it teaches, and
`patchflow eval world --rung K` scores the prompts of those categories that the rung's world can show
(`unshowable` is None): a rung-1 model is never asked for a resting box or a 4 s clip.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchflow.world.scene import FEATURES, MOTIONS, SceneFacts, SceneLimits

STRAIGHT = ("left", "right", "up", "down")
SQUARE_SIZE = "64x64"
WIDE_SIZE = "80x48"  # the bench's collisions are wide clips: objects meet side by side
# world_tiny's sizes (patchflow/recipes/world_tiny.py): square, 16:9, 5:3 and 7:4, both orientations
ALL_SIZES = ("64x64", "96x54", "54x96", "80x48", "48x80", "112x64", "64x112")


@dataclass(frozen=True)
class Rung:
    number: int
    summary: str
    limits: SceneLimits  # what a scene may hold
    sizes: tuple[str, ...]  # "WxH" frame sizes of its data (the recipe's world.sizes)
    frames: tuple[int, ...]  # clip lengths of its data at 8 fps (the recipe's world.frames)
    categories: tuple[str, ...]  # the bench categories it teaches (eval/world_prompts.py)


_SINGLE = ("color", "shape", "size", "motion")
_MANY = ("two_objects", "three_objects", "collisions", "fall_bounce")
_FEATURED = ("pillar", "paint", "pan", "pong", "framing", "durations", "images")

RUNGS: dict[int, Rung] = {
    1: Rung(1, "one object on navy, the four straight motions",
            SceneLimits(motions=STRAIGHT, backgrounds=("navy",), max_objects=1, features=()),
            (SQUARE_SIZE,), (17,), _SINGLE),
    2: Rung(2, "one object, every colour, shape, size and background, still or moving straight",
            SceneLimits(motions=("still", *STRAIGHT), max_objects=1, features=()),
            (SQUARE_SIZE,), (17,), (*_SINGLE, "background")),
    3: Rung(3, "one to three objects, collisions, fall and bounce",
            SceneLimits(motions=MOTIONS, features=()),
            (SQUARE_SIZE, WIDE_SIZE), (17, 33), (*_SINGLE, "background", *_MANY)),
    4: Rung(4, "pillar, paint, pan and pong; several sizes and aspects; images and clips of 1 to 4 s",
            SceneLimits(features=FEATURES),
            ALL_SIZES, (1, 9, 17, 33), (*_SINGLE, "background", *_MANY, *_FEATURED)),
}


def get_rung(number: int) -> Rung:
    """Rung 1..4; anything else is a ValueError that names the rungs (0, the full world, has no Rung)."""
    if number not in RUNGS:
        raise ValueError(f"world.rung must be 0 (the full world) or a rung of the ladder {sorted(RUNGS)}, "
                         f"got {number}")
    return RUNGS[number]


def scene_limits(number: int) -> SceneLimits | None:
    """What scenes of world.rung = `number` may hold; None for rung 0 (the full world, unlimited)."""
    return None if number == 0 else get_rung(number).limits


def unshowable(number: int, facts: SceneFacts, width: int, height: int, num_frames: int) -> str | None:
    """Why the world of rung `number` never shows a sample of these facts at this size and length, or None
    when it can (always None for rung 0). Unsaid facts (None) are anything the rung draws."""
    if number == 0:
        return None
    rung = get_rung(number)
    limits = rung.limits
    if f"{width}x{height}" not in rung.sizes:
        return f"size {width}x{height} (rung {number} has {', '.join(rung.sizes)})"
    if num_frames not in rung.frames:
        return f"{num_frames} frames (rung {number} has {', '.join(map(str, rung.frames))})"
    stated_features = {"pong": bool(facts.pong), "pillar": bool(facts.pillar), "paint": facts.paint is not None,
                       "pan": facts.pan in ("left", "right")}
    for feature, stated in stated_features.items():
        if stated and feature not in limits.features:
            return f"{feature} (rung {number} has no scene features)"
    count = max(len(facts.objects), facts.count or 0)
    if count > limits.max_objects:
        return f"{count} objects (rung {number} has at most {limits.max_objects})"
    if facts.background is not None and facts.background not in limits.backgrounds:
        return f"background {facts.background} (rung {number} has {', '.join(limits.backgrounds)})"
    for obj in facts.objects:
        for name, value, allowed in (("colour", obj.color, limits.colors), ("shape", obj.shape, limits.shapes),
                                     ("size", obj.size, limits.sizes), ("motion", obj.motion, limits.motions)):
            if value is not None and value not in allowed:
                return f"{name} {value} (rung {number} has {', '.join(allowed)})"
    return None


__all__ = ["Rung", "RUNGS", "get_rung", "scene_limits", "unshowable", "ALL_SIZES"]
