"""Captions that tell the truth: does a rendered clip open with every object's stated motion?

A caption is written from the scene's spec, but the physics can undo a stated motion at once: two
balls "moving toward each other" that touch at the start and fly apart, a box that "drifts up" from
against the top wall and is shown moving down. This check reads the ground truth that
`render.render_scene` returns (every object's centre per frame, in pixels of the view), never pixels,
and judges the clip's opening by the world's own rules (shared/WORLD.md):

The opening is the first OPENING_S seconds: frames 0 .. floor(OPENING_S * fps), at least 2 frames,
at most the clip (at 8 fps: frames 0-4). Positions are in the world (a pan's camera shift taken out),
because a caption states motion in the world and the camera's pan in a sentence of its own.

- still: it never moves.
- left / right / up / down, and fall (downward): its first step goes the stated way by at least half
  a free step (a wall or an object at the start turns it within the first frame otherwise), and at
  every frame of the opening it is on the stated side of its start and further along the axis than
  across it (a bounce late in the opening is fine; being back where it started is not).
- bounce (diagonal, any direction): its first step is at least half a free step, and it stays at least
  half a free step away from its start through the opening (nothing stops it dead).
- shown: at least a third of each object's width shows (in the view, not behind the pillar) in at least
  one frame of the opening, and of one that moves in at least two, or its motion is not shown.
An image (one frame) shows no motion: only visibility is checked. Pong's caption states no motion
per object (the ball and paddles are the game's): nothing is checked.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from patchflow.world.physics import make_body
from patchflow.world.scene import GRAVITY, PAN_SPEED, SPEED_VALUE, ObjectSpec, SceneSpec

OPENING_S = 0.5  # seconds of the clip whose motion must be the stated one
FIRST_STEP_SHARE = 0.5  # the first step covers at least this share of a free (unobstructed) step
SHOWN_SHARE = 1 / 3  # of its width: an object this visible is seen (its colour, and its motion)
STILL_TOLERANCE = 1e-3  # short-sides: truth positions are rounded to 0.001 px
AXES = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0), "fall": (0.0, 1.0)}
KINDS = ("collision", "wall", "hidden", "other")  # why a stated motion is not what the clip shows first


class Verdict(NamedTuple):
    ok: bool
    kind: str  # "" when ok, else one of KINDS
    reason: str  # "" when ok, else one sentence naming the object, the frame and what it did


def opening_frames(num_frames: int, fps: float) -> int:
    """How many frames the opening holds: those within OPENING_S of the start, at least 2, at most the clip."""
    return min(num_frames, max(2, math.floor(OPENING_S * fps + 1e-9) + 1))


def world_positions(truth: dict) -> tuple[np.ndarray, np.ndarray]:
    """(x, y), each (T, K): object centres in short-sides of the world."""
    scale = float(min(truth["width"], truth["height"]))  # px per short-side
    frames, fps = truth["num_frames"], truth["fps"]
    sign = {"left": -1.0, "right": 1.0, None: 0.0}[truth["pan"]]
    camera_x = sign * PAN_SPEED * np.arange(frames) / fps  # (T,) as physics.simulate pans the view
    cam_px = np.round(camera_x * scale)  # (T,) whole pixels, as render.render_trajectory moves it
    objects = truth["objects"]
    x = (np.array([o["x"] for o in objects]).T + 0.5 + cam_px[:, None]) / scale  # (K, T) -> (T, K)
    y = (np.array([o["y"] for o in objects]).T + 0.5) / scale  # (T, K)
    return x, y


def shown_frames(spec: SceneSpec, truth: dict) -> np.ndarray:
    """(T, K) bool: at least SHOWN_SHARE of the object's width shows, in the view and not behind the pillar.

    A small object is as wide as the pillar and can hide whole; a large one, twice as wide, shows a
    quarter of itself on each side with its centre behind the pillar: seen, colour and motion.
    """
    scale = float(min(truth["width"], truth["height"]))
    half = np.array([make_body(o.color, o.shape, o.size, o.motion, o.speed).w for o in spec.objects]) * scale / 2
    cx = np.array([o["x"] for o in truth["objects"]]).T  # (K, T) -> (T, K) centres, px of the view
    lo, hi = cx - half, cx + half  # (T, K) the object's columns, as a span of the pixel-centre axis
    view_lo, view_hi = np.maximum(lo, -0.5), np.minimum(hi, truth["width"] - 0.5)
    in_view = np.clip(view_hi - view_lo, 0, None)  # (T, K) px of width inside the view
    hidden = 0.0
    if truth["pillar"]:
        px, pw = truth["pillar"]["x"], truth["pillar"]["width"]
        hidden = np.clip(np.minimum(view_hi, px + pw / 2) - np.maximum(view_lo, px - pw / 2), 0, None)  # (T, K)
    return in_view - hidden >= SHOWN_SHARE * 2 * half


def free_step(o: ObjectSpec, fps: float) -> float:
    """Short-sides the object covers in its first frame with nothing in its way."""
    if o.motion == "fall":
        return 0.5 * GRAVITY / fps**2  # from rest
    return 0.0 if o.motion == "still" else SPEED_VALUE[o.speed] / fps


def motion_failure(o: ObjectSpec, x: np.ndarray, y: np.ndarray, fps: float) -> tuple[int, str] | None:
    """(frame, what it did) where the opening (x, y: (n,) world positions) stops showing `o.motion`."""
    dx, dy = x - x[0], y - y[0]  # (n,) displacement from the start
    step = free_step(o, fps)
    if o.motion == "still":
        away = np.hypot(dx, dy)
        moved = np.flatnonzero(away > STILL_TOLERANCE)
        return (int(moved[0]), f"moved {away[moved[0]]:.3f} short-sides") if len(moved) else None
    if o.motion == "bounce":
        away = np.hypot(dx, dy)
        if away[1] < FIRST_STEP_SHARE * step:
            return 1, f"its first step is {away[1]:.3f} short-sides, a free step is {step:.3f}"
        stuck = np.flatnonzero(away[1:] < FIRST_STEP_SHARE * step) + 1
        return (int(stuck[0]), f"is back within {away[stuck[0]]:.3f} short-sides of its start") if len(stuck) else None
    ex, ey = AXES[o.motion]
    along, across = dx * ex + dy * ey, np.abs(dx * ey - dy * ex)  # (n,) along the stated direction, and off it
    if along[1] < FIRST_STEP_SHARE * step:
        return 1, f"its first step goes {along[1]:+.3f} short-sides {o.motion}ward, a free step is {step:.3f}"
    back = np.flatnonzero(along[1:] <= 0) + 1
    off = np.flatnonzero(across[1:] > along[1:]) + 1
    if len(back) and (not len(off) or back[0] <= off[0]):
        return int(back[0]), f"turned back: {-along[back[0]]:.3f} short-sides against its motion"
    if len(off):
        return int(off[0]), f"pushed off its axis: {across[off[0]]:.3f} short-sides across, {along[off[0]]:.3f} along"
    return None


def failure_cause(spec: SceneSpec, k: int, x: np.ndarray, y: np.ndarray, width: float, height: float,
                  fps: float) -> str:
    """'collision' if object k came within a frame's travel of another object by the failing frame
    (x, y: (n, K) up to it), else 'wall' if of a wall, else 'other'."""
    bodies = [make_body(o.color, o.shape, o.size, o.motion, o.speed) for o in spec.objects]
    steps = np.hypot(np.diff(x, axis=0), np.diff(y, axis=0))  # (n - 1, K) travel per frame
    reach = [max(float(steps[:, j].max(initial=0.0)), free_step(o, fps)) for j, o in enumerate(spec.objects)]
    for j, other in enumerate(bodies):
        if j != k:
            gap = np.hypot(x[:, k] - x[:, j], y[:, k] - y[:, j]) - bodies[k].radius - other.radius  # (n,)
            if gap.min() <= reach[k] + reach[j] + 1e-6:
                return "collision"
    b = bodies[k]
    walls = np.stack([x[:, k] - b.w / 2, width - x[:, k] - b.w / 2, y[:, k] - b.up, height - y[:, k] - b.down])
    return "wall" if walls.min() <= reach[k] + 1e-6 else "other"  # walls: (4, n) gaps


def describe(o: ObjectSpec) -> str:
    return f"the {o.size} {o.color} {o.shape} (stated {o.motion!r})"


def stated_motion_holds(spec: SceneSpec, truth: dict) -> Verdict:
    """Whether the clip `truth` describes (what render_scene returns, or its saved JSON) opens with
    every object's stated motion, each seen; see the module's docstring for the rules."""
    if spec.pong:
        return Verdict(True, "", "")
    colors = [o["color"] for o in truth["objects"]]
    if colors != [o.color for o in spec.objects]:
        raise ValueError(f"the truth's objects {colors} are not the spec's {[o.color for o in spec.objects]}: "
                         "pass the truth rendered from this spec")
    fps = truth["fps"]
    n = opening_frames(truth["num_frames"], fps)
    x, y = (a[:n] for a in world_positions(truth))  # (n, K) each
    shown = shown_frames(spec, truth)[:n]  # (n, K)
    scale = float(min(truth["width"], truth["height"]))
    for k, o in enumerate(spec.objects):
        failure = motion_failure(o, x[:, k], y[:, k], fps) if n >= 2 else None
        if failure is not None:
            frame, what = failure
            cause = failure_cause(spec, k, x[:frame + 1], y[:frame + 1], truth["width"] / scale,
                                  truth["height"] / scale, fps)
            return Verdict(False, cause, f"{describe(o)} {what} at frame {frame} ({frame / fps:.2f} s; {cause})")
        needed = 1 if o.motion == "still" or n == 1 else 2
        seen = shown[:, k]
        if seen.sum() < needed:
            where = "behind the pillar" if truth["pillar"] else "out of view"
            return Verdict(False, "hidden", f"{describe(o)} shows in {int(seen.sum())} of the first {n} frames, "
                                            f"needs {needed} ({where})")
    return Verdict(True, "", "")


__all__ = ["Verdict", "stated_motion_holds", "opening_frames", "world_positions", "OPENING_S", "KINDS"]
