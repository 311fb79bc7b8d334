"""The words a language model is asked with: the world's detailed caption style, spelled out.

A captioner and an expander must write the captions the video model was
trained on (shared/WORLD.md "Captions"), so both are shown the vocabulary and
an example caption. The vocabulary is read from the world's own tables, so it
cannot drift from them.
"""

from __future__ import annotations

from patchflow.world.palette import BACKGROUND_COLORS, OBJECT_COLORS
from patchflow.world.scene import MOTIONS, SHAPES, SIZES, SPEEDS

EXAMPLE_CAPTION = ("A small red ball moves quickly to the right and bounces off the wall, while a large blue square "
                   "stays still. The background is navy. The camera is static.")

STYLE = (
    "Write one detailed caption in this style: " + EXAMPLE_CAPTION + " "
    "Name every object with its size (" + ", ".join(SIZES) + "), colour (" + ", ".join(OBJECT_COLORS) + ") "
    "and shape (" + ", ".join(SHAPES) + "), and its motion (" + ", ".join(MOTIONS) + ") with its speed ("
    + ", ".join(SPEEDS) + ") unless it is still or falls. Then say the background colour ("
    + ", ".join(BACKGROUND_COLORS) + "), whether a pillar stands in the foreground, which object leaves a paint "
    "trail, and whether the camera pans left, pans right or is static. A game of pong is described as pong with "
    "its background. Use only these words for colours, shapes and motions. Answer with the caption only."
)

CAPTION_INSTRUCTION = "These are frames of one short video, in order. Describe the video. " + STYLE

EXPAND_SYSTEM_PROMPT = (
    "You turn a user's short video prompt into the detailed caption a video model was trained on. Keep every "
    "fact the prompt states; choose the facts it leaves open (sizes, motions, speeds, background, camera). "
    + STYLE
)

__all__ = ["CAPTION_INSTRUCTION", "EXPAND_SYSTEM_PROMPT", "EXAMPLE_CAPTION", "STYLE"]
