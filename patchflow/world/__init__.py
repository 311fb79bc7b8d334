"""The built-in world ("toyworld"): physics, rendering, captions and their parser.

shared/WORLD.md is the contract. `make.make_dataset` writes a captioned data set;
`oracle` reads videos back and scores them against a caption.
"""

from patchflow.world.captions import make_caption, make_prompt
from patchflow.world.parser import CaptionParseError, parse_caption
from patchflow.world.render import render_scene
from patchflow.world.scene import SceneFacts, SceneSpec, complete, sample_scene

__all__ = ["render_scene", "make_caption", "make_prompt", "parse_caption", "CaptionParseError", "SceneSpec",
           "SceneFacts", "complete", "sample_scene"]
