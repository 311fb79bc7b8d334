"""The world expander: a short prompt -> a detailed caption in the training style, with no model.

It reads the prompt with the world's parser, keeps every fact the prompt
states, fills every fact it leaves open the way the training scenes were drawn
(`scene.sample_scene`), and writes the caption with the training captioner
(`captions.make_caption`). This is the Sora report's prompt expansion, exact
for the world: the caption a model was trained on for a scene that fits the
prompt.

Why not `scene.complete` alone: it draws objects, colours, shapes, sizes,
motions, speeds and the background as `sample_scene` does (uniform choices,
distinct colours, 1-3 objects when no count is said), but leaves every
unsaid scene feature off (no pillar, no paint, static camera, never pong),
while training scenes carry each feature with probability `feature_prob`. So
the features are drawn here, from their own random stream.

Objects the prompt names are the scene's objects: "a red ball" becomes a
scene of one red ball (as `world render --caption` does), not one of 1-3.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace

from patchflow.world.captions import make_caption
from patchflow.world.palette import BACKGROUND_COLORS
from patchflow.world.parser import parse_caption_with_notices
from patchflow.world.scene import (
    PAN_DIRECTIONS,
    SceneFacts,
    SceneSpec,
    complete,
)

TRAINING_FEATURE_PROB = 0.15  # sample_scene's default: what the world data set draws


@dataclass(frozen=True)
class Expansion:
    """One expanded prompt: the caption, the scene it describes, what the prompt stated, and the parser's
    notices (words of the prompt the world could not take where they stood)."""

    caption: str
    spec: SceneSpec
    facts: SceneFacts
    notices: tuple[str, ...]


def says_nothing(facts: SceneFacts) -> bool:
    """True when a prompt states no object, no count and no game: the scene kind is open too."""
    return not facts.objects and facts.count is None and facts.pong is None


def fill_scene(facts: SceneFacts, seed: int, feature_prob: float = TRAINING_FEATURE_PROB) -> SceneSpec:
    """The stated facts, and every unsaid one drawn as the training scenes are; deterministic for `seed`."""
    features = random.Random(f"world-expander-features:{seed}")  # a stream apart from complete()'s
    if says_nothing(facts) and features.random() < feature_prob / 2:  # sample_scene's pong rate
        background = facts.background or features.choice(list(BACKGROUND_COLORS))
        return SceneSpec(objects=(), background=background, pong=True)
    spec = complete(facts, seed)
    if spec.pong:
        return spec
    colors = [o.color for o in spec.objects]
    pillar = facts.pillar if facts.pillar is not None else features.random() < feature_prob
    paint = facts.paint
    if paint is None and features.random() < feature_prob:
        paint = features.choice(colors)
    pan = spec.pan
    if facts.pan is None and features.random() < feature_prob:  # "static" was said: the camera stays still
        pan = features.choice(PAN_DIRECTIONS)
    return replace(spec, pillar=pillar, paint=paint, pan=pan)


class WorldExpander:
    """Prompt expansion for the built-in world: `expand(prompt, seed)` -> a detailed training-style caption.

    Raises `CaptionParseError` (a one-liner quoting the words) for a prompt with words outside the world's
    vocabulary, and ValueError for a scene the world cannot hold (more than three objects).
    """

    def __init__(self, feature_prob: float = TRAINING_FEATURE_PROB):
        if not 0.0 <= feature_prob <= 1.0:
            raise ValueError(f"feature_prob is a probability in [0, 1], got {feature_prob}")
        self.feature_prob = feature_prob

    def explain(self, prompt: str, seed: int) -> Expansion:
        parsed = parse_caption_with_notices(prompt)
        # The prompt joins the seed, so that one seed over many prompts does not give all of them the same
        # fills (every unsaid size "large", every unsaid background "gray").
        prompt_seed = int.from_bytes(hashlib.sha256(f"{seed}:{prompt}".encode()).digest()[:8], "big")
        spec = fill_scene(parsed.facts, prompt_seed, self.feature_prob)
        caption = make_caption(spec, random.Random(f"world-expander-caption:{prompt_seed}"))
        return Expansion(caption=caption, spec=spec, facts=parsed.facts, notices=parsed.notices)

    def expand(self, prompt: str, seed: int) -> str:
        return self.explain(prompt, seed).caption


__all__ = ["WorldExpander", "Expansion", "fill_scene", "says_nothing", "TRAINING_FEATURE_PROB"]
