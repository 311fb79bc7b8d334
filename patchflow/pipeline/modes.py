"""Modes: the one table from a mode's name to its preset, shared by the Pipeline, `patchflow generate`,
the demo and the docs.

A preset turns a mode's inputs into a `Plan`: how many frames to generate, which of them are held by
conditions (`FrameCondition`s, which `diffusion/frame_conditions.py` places on latent frames), and how the
output is put together from the generated frames and the inputs. A row of `MODES` names the preset and says
what the command line needs to know of the mode: the inputs it reads, the switches that choose it, and what
its frame count counts. A new mode is a new preset and a new row, never a new pipeline class
(docs/generate.md, "Adding a mode").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from patchflow.diffusion.frame_conditions import FrameCondition, Media


@dataclass
class Plan:
    """What to generate and how the output is put together.

    output = before + generated[keep] + after (uint8 frames (T, H, W, 3)). `init` + `strength` is
    SDEdit: start from the input's latents noised to t = strength instead of from pure noise.
    """

    num_frames: int
    conditions: list[FrameCondition] = field(default_factory=list)
    keep: slice = field(default_factory=lambda: slice(None))
    before: np.ndarray | None = None
    after: np.ndarray | None = None
    init: Media | None = None
    strength: float | None = None

    @property
    def output_is_generated(self) -> bool:
        """True when the output is the generated frames as they are (nothing kept from the inputs)."""
        return self.before is None and self.after is None and self.keep == slice(None)

    @property
    def output_length(self) -> int:
        """Frames in the assembled output (known before sampling: memory and the output file depend on it)."""
        kept = len(range(self.num_frames)[self.keep])
        return sum(len(p) for p in (self.before, self.after) if p is not None) + kept

    def assemble(self, generated: np.ndarray) -> np.ndarray:
        parts = [p for p in (self.before, generated[self.keep], self.after) if p is not None and len(p)]
        return np.concatenate(parts)


# ----------------------------------------------------------------------------- presets


def _check(count: int, r_t: int, offset: int, what: str) -> None:
    if count < offset or (count - offset) % r_t:
        form = f"{r_t} * k" if offset == 0 else f"1 + {r_t} * k"
        raise ValueError(f"{what} needs a frame count of the form {form}, got {count}")


def text_to_video(num_frames: int, r_t: int) -> Plan:
    _check(num_frames, r_t, 1, "text-to-video")
    return Plan(num_frames)


def image_to_video(image: Media, num_frames: int, r_t: int, last_image: Media | None = None) -> Plan:
    """The image is the first frame; `last_image` (optional) the last."""
    _check(num_frames, r_t, 1, "image-to-video")
    conds = [FrameCondition(image=image, frame_index=0)]
    if last_image is not None:
        conds.append(FrameCondition(image=last_image, frame_index=-1))
    return Plan(num_frames, conds)


def loop(image: Media, num_frames: int, r_t: int) -> Plan:
    """A seamless loop: the same image opens and closes the video."""
    _check(num_frames, r_t, 1, "a loop")
    return Plan(num_frames, [FrameCondition(image=image, frame_index=0), FrameCondition(image=image, frame_index=-1)])


def extend_forward(video: np.ndarray, new_frames: int, r_t: int, context_latents: int = 2) -> Plan:
    """New footage after the input: the input's last 1 + r_t*(c-1) frames condition the start."""
    _check(new_frames, r_t, 0, "forward extension (new footage)")
    groups = min(context_latents - 1, (len(video) - 1) // r_t)
    context = video[len(video) - (1 + groups * r_t):]
    return Plan(len(context) + new_frames, [FrameCondition(video=context)], slice(len(context), None), before=video)


def extend_backward(video: np.ndarray, new_frames: int, r_t: int, context_latents: int = 2) -> Plan:
    """New footage before the input: the input's first r_t*c frames condition the end."""
    _check(new_frames, r_t, 1, "backward extension (new footage)")
    groups = max(1, min(context_latents, len(video) // r_t))
    context = video[:groups * r_t]  # shorter inputs (an image) become a still group
    total = new_frames + groups * r_t
    return Plan(total, [FrameCondition(video=context, frame_index=-1)], slice(0, new_frames), after=video)


def connect(a: np.ndarray, b: np.ndarray, new_frames: int, r_t: int, context_latents: int = 2) -> Plan:
    """A transition from the end of `a` to the start of `b`: output a + transition + b."""
    _check(new_frames, r_t, 0, "connect (transition)")
    tail = extend_forward(a, new_frames, r_t, context_latents)
    head = extend_backward(b, 1, r_t, context_latents)
    head_len = head.num_frames - 1
    context_a = tail.conditions[0]
    conds = [context_a, FrameCondition(video=head.conditions[0].video, frame_index=-1)]
    start = tail.keep.start
    return Plan(tail.num_frames + head_len, conds, slice(start, start + new_frames), before=a, after=b)


def loop_video(video: np.ndarray, new_frames: int, r_t: int, context_latents: int = 2) -> Plan:
    """Make a video loop: a transition from its end back to its start; output video + transition."""
    plan = connect(video, video, new_frames, r_t, context_latents)
    plan.after = None
    return plan


def sdedit(video: np.ndarray, strength: float, r_t: int) -> Plan:
    """Video-to-video (or image-to-image): noise the input's latents to t = strength, then denoise."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    usable = 1 + (len(video) - 1) // r_t * r_t
    return Plan(usable, init=video[:usable], strength=strength)


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class ModeInputs:
    """What every row's preset is called with. `media`: the inputs, uint8 (T, H, W, 3) each at the output
    size (an image is T = 1); `frames`: the output's length, or the new footage's (see `Mode.counts`)."""

    media: list[np.ndarray]
    frames: int
    r_t: int
    context_latents: int
    strength: float | None


@dataclass(frozen=True)
class Mode:
    """One row: a mode's name, its preset, and what `patchflow generate` (or a server) needs to know of it."""

    name: str
    preset: Callable[[ModeInputs], Plan]
    media: tuple[str, ...] = ()  # its inputs in order: "image" (--image) or "video" (--video)
    flags: tuple[str, ...] = ()  # the other `patchflow generate` switches that choose it
    counts: str = "output"  # what the frame count counts: the "output", the "new" footage, or nothing ("input")
    offset: int = 1  # valid frame counts are offset + r_t * k
    strength: bool = False  # takes a strength in [0, 1] (SDEdit)
    frames: int | None = None  # the one frame count it makes, when fixed (tells text-to-image from -video)


MODES: dict[str, Mode] = {mode.name: mode for mode in [
    Mode("text-to-video", lambda a: text_to_video(a.frames, a.r_t)),
    Mode("text-to-image", lambda a: text_to_video(a.frames, a.r_t), frames=1),
    Mode("image-to-video", lambda a: image_to_video(a.media[0][0], a.frames, a.r_t), media=("image",)),
    Mode("loop", lambda a: loop(a.media[0][0], a.frames, a.r_t), media=("image",), flags=("--loop",)),
    Mode("loop (video)", lambda a: loop_video(a.media[0], a.frames, a.r_t, a.context_latents),
         media=("video",), flags=("--loop",), counts="new", offset=0),
    Mode("extend forward", lambda a: extend_forward(a.media[0], a.frames, a.r_t, a.context_latents),
         media=("video",), flags=("--extend", "forward"), counts="new", offset=0),
    Mode("extend backward", lambda a: extend_backward(a.media[0], a.frames, a.r_t, a.context_latents),
         media=("video",), flags=("--extend", "backward"), counts="new", offset=1),
    Mode("video-to-video", lambda a: sdedit(a.media[0], a.strength, a.r_t),
         media=("video",), counts="input", strength=True),
    Mode("connect", lambda a: connect(a.media[0], a.media[1], a.frames, a.r_t, a.context_latents),
         media=("video", "video"), counts="new", offset=0),
]}


def get_mode(name: str) -> Mode:
    if name not in MODES:
        raise ValueError(f"unknown mode {name!r}; known modes: {', '.join(MODES)}")
    return MODES[name]


def plan_for(name: str, media: list[np.ndarray], frames: int, r_t: int, context_latents: int = 2,
             strength: float | None = None) -> Plan:
    """The plan a mode makes of its inputs (uint8 (T, H, W, 3) each, at the output size; an image is T = 1).
    `frames`: the output's length, or the new footage's for extension, connect and video loops."""
    mode = get_mode(name)
    if len(media) != len(mode.media):
        wanted = " and ".join(mode.media) or "no media"
        raise ValueError(f"{name} takes {wanted} as input, got {len(media)} input(s)")
    if mode.strength and strength is None:
        raise ValueError(f"{name} needs a strength in [0, 1]")
    if strength is not None and not mode.strength:
        raise ValueError(f"{name} takes no strength; only video-to-video (SDEdit) does")
    if mode.frames is not None and frames != mode.frames:
        raise ValueError(f"{name} makes {mode.frames} frame(s), got a frame count of {frames}")
    return mode.preset(ModeInputs(list(media), frames, r_t, context_latents, strength))
