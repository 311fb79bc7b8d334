"""Texts for a scene: a short partial `prompt` and a detailed `caption`.

Every fact has several phrasings and the sentences come in a random order, so
a model has to read the words, not their positions. Every text written here
parses back with `parser.parse_caption` (the tests check hundreds of scenes).
"""

from __future__ import annotations

import random

from patchflow.world.scene import ObjectSpec, SceneSpec

SHAPE_WORDS = {"circle": ("ball", "circle", "disc"), "square": ("square", "box", "block"), "triangle": ("triangle",)}
PLURALS = {"ball": "balls", "circle": "circles", "disc": "discs", "square": "squares", "box": "boxes",
           "block": "blocks", "triangle": "triangles"}
SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}
SPEED_BEFORE = {"slow": ("slowly", "gently"), "fast": ("quickly", "rapidly", "swiftly")}
SPEED_AFTER = {"slow": ("slowly", "at a slow pace"), "fast": ("quickly", "fast", "at high speed")}
PROMPT_SPEED = {"slow": ("slowly", "slow"), "fast": ("quickly", "fast")}

AXIS_VERBS = ("moves", "slides", "drifts", "glides", "travels", "heads")
AXIS_PARTICIPLES = ("moving", "sliding", "drifting", "gliding")
DIRECTION_WORDS = {
    "left": ("left", "to the left", "leftward"),
    "right": ("right", "to the right", "rightward"),
    "up": ("up", "upward", "upwards"),
    "down": ("down", "downward", "downwards"),
}
AXIS_TAILS = ("", " and bounces off the wall", ", bouncing back at the edges")
BOUNCE_PHRASES = ("bounces around", "bounces off the walls", "bounces around the frame",
                  "bounces diagonally off the walls")
FALL_PHRASES = ("falls", "drops and bounces", "falls and bounces on the floor", "drops to the floor and bounces")
STILL_PHRASES = ("stays still", "rests", "sits still", "does not move", "stays put")
PARTICIPLES = {"bounce": ("bouncing", "bouncing around"), "fall": ("falling", "dropping"),
               "still": ("resting", "sitting still", "standing still")}

BACKGROUND_SENTENCES = ("the background is {bg}.", "the backdrop is {bg}.", "everything happens on a {bg} background.",
                        "it is set against a {bg} backdrop.")
PILLAR_SENTENCES = ("a pillar stands in the foreground.", "a pillar in front hides whatever passes behind it.",
                    "there is a pillar in the foreground, and objects pass behind it.")
PAINT_SENTENCES = ("the {obj} leaves a trail of paint.", "the {obj} paints a trail as it moves.",
                   "a paint trail follows the {obj}.")
PAN_SENTENCES = ("the camera pans {dir}.", "the camera pans to the {dir}.", "the view pans to the {dir}.")
STATIC_SENTENCES = ("the camera is static.", "the camera does not move.", "the camera stays still.",
                    "the shot is static.")
PONG_SENTENCES = ("a game of pong: a white ball bounces between two paddles.",
                  "two white paddles play pong with a white ball.",
                  "pong: two paddles at the side walls return a white ball.")
CONNECTORS = (", while ", ", and ", "; ", ". ", ". meanwhile, ")


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(obj: ObjectSpec, rng: random.Random, with_size: bool = True) -> str:
    """'small red ball': size, colour and a synonym of the shape."""
    words = [rng.choice(SIZE_WORDS[obj.size])] if with_size else []
    return " ".join([*words, obj.color, rng.choice(SHAPE_WORDS[obj.shape])])


def motion_phrase(obj: ObjectSpec, rng: random.Random) -> str:
    """The verb phrase of a caption, with the speed where it matters (not for still or fall)."""
    if obj.motion == "still":
        return rng.choice(STILL_PHRASES)
    if obj.motion == "fall":
        return rng.choice(FALL_PHRASES)
    if obj.motion == "bounce":
        core, tail = rng.choice(BOUNCE_PHRASES), ""
    else:
        core = f"{rng.choice(AXIS_VERBS)} {rng.choice(DIRECTION_WORDS[obj.motion])}"
        tail = rng.choice(AXIS_TAILS)
    placement = rng.randrange(3)
    if placement == 0:
        return f"{rng.choice(SPEED_BEFORE[obj.speed])} {core}{tail}"
    if placement == 1 and obj.motion != "bounce":  # between verb and direction: "moves quickly to the left"
        verb, direction = core.split(" ", 1)
        return f"{verb} {rng.choice(SPEED_AFTER[obj.speed])} {direction}{tail}"
    return f"{core} {rng.choice(SPEED_AFTER[obj.speed])}{tail}"


def sentence_case(text: str) -> str:
    """Capitalise the first letter of every sentence."""
    parts = text.split(". ")
    return ". ".join(p[:1].upper() + p[1:] for p in parts)


def make_caption(spec: SceneSpec, rng: random.Random) -> str:
    """The detailed description: every object's size, colour, shape, motion (and speed), the
    background, the pillar, the paint, the camera or the game of pong."""
    if spec.pong:
        sentences = [rng.choice(PONG_SENTENCES), rng.choice(BACKGROUND_SENTENCES).format(bg=spec.background)]
        rng.shuffle(sentences)
        if rng.random() < 0.5:
            sentences.append(rng.choice(STATIC_SENTENCES))
        return sentence_case(" ".join(sentences))

    clauses = [f"{article(np_)} {np_} {motion_phrase(o, rng)}"
               for o in spec.objects for np_ in [noun_phrase(o, rng)]]
    body = clauses[0]
    for clause in clauses[1:]:
        body += rng.choice(CONNECTORS) + clause
    extras = [rng.choice(BACKGROUND_SENTENCES).format(bg=spec.background)]
    if spec.pillar:
        extras.append(rng.choice(PILLAR_SENTENCES))
    if spec.paint:
        painter = next(o for o in spec.objects if o.color == spec.paint)
        extras.append(rng.choice(PAINT_SENTENCES).format(obj=noun_phrase(painter, rng, with_size=False)))
    rng.shuffle(extras)
    camera = rng.choice(PAN_SENTENCES).format(dir=spec.pan) if spec.pan else rng.choice(STATIC_SENTENCES)
    # The objects come first or second; the camera first or last.
    sentences = [body + "."] + extras if rng.random() < 0.7 else extras[:1] + [body + "."] + extras[1:]
    sentences = [camera, *sentences] if rng.random() < 0.2 else [*sentences, camera]
    return sentence_case(" ".join(sentences))


def participle_phrase(obj: ObjectSpec, rng: random.Random) -> str:
    if obj.motion in PARTICIPLES:
        return rng.choice(PARTICIPLES[obj.motion])
    return f"{rng.choice(AXIS_PARTICIPLES)} {rng.choice(DIRECTION_WORDS[obj.motion])}"


def make_prompt(spec: SceneSpec, rng: random.Random) -> str:
    """What a person would type: short and partial ("a red ball bouncing", "two boxes on gray")."""
    if spec.pong:
        return rng.choice(("pong on {bg}", "a game of pong", "pong", "a game of pong on {bg}")).format(
            bg=spec.background)
    shapes = {o.shape for o in spec.objects}
    n = len(spec.objects)
    if n > 1 and rng.random() < 0.3:  # a count: "two boxes", or "three shapes" when the shapes differ
        noun = PLURALS[rng.choice(SHAPE_WORDS[shapes.pop()])] if len(shapes) == 1 else rng.choice(
            ("shapes", "objects"))
        text = f"{NUMBER_WORDS[n]} {noun}"
        obj = None
    else:  # one object, described in part
        obj = rng.choice(spec.objects)
        words = []
        if rng.random() < 0.4:
            words.append(rng.choice(SIZE_WORDS[obj.size]))
        if rng.random() < 0.8:
            words.append(obj.color)
        words.append(rng.choice(SHAPE_WORDS[obj.shape]))
        lead = NUMBER_WORDS[1] if n == 1 and rng.random() < 0.1 else article(words[0])
        text = f"{lead} {' '.join(words)}"
        if rng.random() < 0.7:
            text += " " + participle_phrase(obj, rng)
            if obj.motion not in ("still", "fall") and rng.random() < 0.3:
                text += " " + rng.choice(PROMPT_SPEED[obj.speed])
    tails = []
    if rng.random() < 0.5:
        tails.append(f"on {spec.background}")
    if spec.pillar and rng.random() < 0.5:
        tails.append(rng.choice(("behind a pillar", "with a pillar")))
    if obj is not None and spec.paint == obj.color and rng.random() < 0.5:
        tails.append("leaving a paint trail")
    if spec.pan and rng.random() < 0.5:
        tails.append(f"as the camera pans {spec.pan}")
    rng.shuffle(tails)
    return " ".join([text, *tails[:2]])  # a prompt stays short


__all__ = ["make_prompt", "make_caption", "SHAPE_WORDS", "PLURALS", "SIZE_WORDS"]
