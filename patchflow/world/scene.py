"""What a scene is: the facts a caption states and a renderer draws.

`SceneSpec` is a complete scene (every field decided); `SceneFacts` is what a
text states, where `None` means "not said". The renderer takes a `SceneSpec`;
the caption parser returns `SceneFacts`; `complete()` fills the unsaid facts
from a seed, which is how `world render --caption` works.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from patchflow.world.palette import BACKGROUND_COLORS, OBJECT_COLORS

SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
MOTIONS = ("still", "left", "right", "up", "down", "bounce", "fall")
SPEEDS = ("slow", "fast")
PAN_DIRECTIONS = ("left", "right")
FEATURES = ("pillar", "paint", "pan", "pong")  # the scene features of WORLD.md

# Physics constants, in short-sides (the frame's short side is 1.0) and seconds.
SIZE_FRACTION = {"small": 0.15, "large": 0.30}
SPEED_VALUE = {"slow": 0.25, "fast": 0.6}
GRAVITY = 2.0
FALL_RESTITUTION = 0.8
PAN_SPEED = 0.2
PILLAR_WIDTH = 0.15
STRIPE_WIDTH = 0.1
PADDLE_SIZE = (0.05, 0.25)  # width, height in short-sides
MAX_OBJECTS = 3
MIN_SIDE = 16


@dataclass(frozen=True)
class ObjectSpec:
    color: str  # a key of OBJECT_COLORS
    shape: str  # one of SHAPES
    size: str  # one of SIZES
    motion: str  # one of MOTIONS
    speed: str  # one of SPEEDS (ignored for still and fall)


@dataclass(frozen=True)
class SceneSpec:
    objects: tuple[ObjectSpec, ...]
    background: str  # a key of BACKGROUND_COLORS
    pillar: bool = False
    paint: str | None = None  # colour word of the object that leaves a trail
    pan: str | None = None  # "left" | "right" | None (static camera)
    pong: bool = False  # a pong game: objects are ignored, ball + paddles are white

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> SceneSpec:
        objects = tuple(ObjectSpec(**o) for o in d["objects"])
        return SceneSpec(objects=objects, **{k: v for k, v in d.items() if k != "objects"})


@dataclass(frozen=True)
class ObjectFacts:
    """What a text says of one object; None = not said."""

    color: str | None = None
    shape: str | None = None
    size: str | None = None
    motion: str | None = None
    speed: str | None = None


@dataclass(frozen=True)
class SceneFacts:
    """What a text says of a scene; None = not said. `count` is the number of
    objects stated ("two boxes" says 2 even if their colours are not said)."""

    objects: tuple[ObjectFacts, ...] = ()
    background: str | None = None
    pillar: bool | None = None
    paint: str | None = None
    pan: str | None = None  # "left" | "right" | "static" | None
    pong: bool | None = None
    count: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def validate(spec: SceneSpec) -> None:
    """Raise ValueError naming the bad field if a spec breaks WORLD.md's rules."""
    if spec.background not in BACKGROUND_COLORS:
        raise ValueError(f"unknown background {spec.background!r}; known: {sorted(BACKGROUND_COLORS)}")
    if not spec.pong and not 1 <= len(spec.objects) <= MAX_OBJECTS:
        raise ValueError(f"a scene has 1 to {MAX_OBJECTS} objects, got {len(spec.objects)}")
    colors = [o.color for o in spec.objects]
    if len(set(colors)) != len(colors):
        raise ValueError(f"no two objects in one scene may share a colour, got {colors}")
    for o in spec.objects:
        for name, value, allowed in (
            ("color", o.color, tuple(OBJECT_COLORS)),
            ("shape", o.shape, SHAPES),
            ("size", o.size, SIZES),
            ("motion", o.motion, MOTIONS),
            ("speed", o.speed, SPEEDS),
        ):
            if value not in allowed:
                raise ValueError(f"unknown object {name} {value!r}; known: {list(allowed)}")
    if spec.paint is not None and spec.paint not in colors:
        raise ValueError(f"paint names {spec.paint!r}, which is not an object of the scene ({colors})")
    if spec.pan not in (None, *PAN_DIRECTIONS):
        raise ValueError(f"pan must be left, right or None, got {spec.pan!r}")


def complete(facts: SceneFacts, seed: int) -> SceneSpec:
    """Fill every unsaid fact at random from `seed`; said facts are kept."""
    rng = random.Random(seed)
    if facts.pong:
        return SceneSpec(objects=(), background=facts.background or rng.choice(list(BACKGROUND_COLORS)), pong=True)
    n = max(len(facts.objects), facts.count or 0) or rng.randint(1, MAX_OBJECTS)
    stated = list(facts.objects) + [ObjectFacts()] * (n - len(facts.objects))
    taken = {o.color for o in stated if o.color}
    objects = []
    for o in stated:
        color = o.color or rng.choice([c for c in OBJECT_COLORS if c not in taken])
        taken.add(color)
        objects.append(
            ObjectSpec(
                color=color,
                shape=o.shape or rng.choice(SHAPES),
                size=o.size or rng.choice(SIZES),
                motion=o.motion or rng.choice(MOTIONS),
                speed=o.speed or rng.choice(SPEEDS),
            )
        )
    pan = facts.pan if facts.pan in PAN_DIRECTIONS else None
    spec = SceneSpec(
        objects=tuple(objects),
        background=facts.background or rng.choice(list(BACKGROUND_COLORS)),
        pillar=bool(facts.pillar),
        paint=facts.paint,
        pan=pan,
    )
    validate(spec)
    return spec


@dataclass(frozen=True)
class SceneLimits:
    """What `sample_scene` may draw: a sub-world of WORLD.md (a rung of the difficulty ladder, world/ladder.py).

    Each tuple lists the allowed values in WORLD.md's order; `features` names the scene features
    (pillar, paint, pan, pong) a scene may carry. FULL_WORLD allows everything, and draws exactly what
    `sample_scene` drew before limits existed (the same random stream, value for value).
    """

    colors: tuple[str, ...] = tuple(OBJECT_COLORS)
    shapes: tuple[str, ...] = SHAPES
    sizes: tuple[str, ...] = SIZES
    motions: tuple[str, ...] = MOTIONS
    backgrounds: tuple[str, ...] = tuple(BACKGROUND_COLORS)
    max_objects: int = MAX_OBJECTS
    features: tuple[str, ...] = FEATURES


FULL_WORLD = SceneLimits()


def sample_scene(rng: random.Random, feature_prob: float = 0.15, limits: SceneLimits | None = None) -> SceneSpec:
    """A random scene: 1 to `limits.max_objects` objects, and each allowed scene feature with probability
    `feature_prob` (pong with half of it). A feature the limits leave out draws no random number at all."""
    limits = limits or FULL_WORLD
    features = set(limits.features)
    if "pong" in features and rng.random() < feature_prob / 2:
        return SceneSpec(objects=(), background=rng.choice(limits.backgrounds), pong=True)
    n = rng.randint(1, limits.max_objects)
    colors = rng.sample(list(limits.colors), n)
    objects = tuple(
        ObjectSpec(color=c, shape=rng.choice(limits.shapes), size=rng.choice(limits.sizes),
                   motion=rng.choice(limits.motions), speed=rng.choice(SPEEDS))
        for c in colors
    )
    # keyword order is draw order: background, pillar, paint, pan (as before limits existed)
    return SceneSpec(
        objects=objects,
        background=rng.choice(limits.backgrounds),
        pillar="pillar" in features and rng.random() < feature_prob,
        paint=rng.choice(colors) if "paint" in features and rng.random() < feature_prob else None,
        pan=rng.choice(PAN_DIRECTIONS) if "pan" in features and rng.random() < feature_prob else None,
    )


__all__ = [
    "ObjectSpec", "SceneSpec", "ObjectFacts", "SceneFacts", "SceneLimits", "FULL_WORLD", "validate", "complete",
    "sample_scene", "SHAPES", "SIZES", "MOTIONS", "SPEEDS", "PAN_DIRECTIONS", "FEATURES",
]
