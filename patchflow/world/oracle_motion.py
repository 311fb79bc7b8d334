"""Motion from tracks: how each object moves, where it meets walls, how the camera pans.

Part of the oracle (oracle.py judges facts; oracle_observe.py reads pixels). Velocities are in
short-sides per second with y growing downwards; a motion is measured over the first frames
only, before the object meets a wall or another object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from patchflow.world.oracle_observe import NEAR_PX, STRIPE_MIN_STRENGTH, ColorTrack, Observation
from patchflow.world.scene import GRAVITY, SPEED_VALUE

STILL_SPEED = 0.08  # short-sides/s below which an object is still (slow is 0.25)
AXIS_RATIO = 0.4  # minor/major velocity below which a motion is along one axis, not diagonal
PAN_MIN_SPEED = 0.07  # short-sides/s of stripe motion below which the camera is static (pan is 0.2)
SPEED_SPLIT = math.sqrt(SPEED_VALUE["slow"] * SPEED_VALUE["fast"])


@dataclass
class Motion:
    """The initial motion of one object, in short-sides and seconds (y grows downwards)."""

    kind: str | None  # a scene.MOTIONS word, None when too few frames show it
    vx: float = float("nan")
    vy: float = float("nan")
    ay: float = float("nan")  # vertical acceleration, when 3+ frames show it
    frames: int = 0  # positions used
    t_mid: float = float("nan")  # mean time of those positions, s
    tolerance: float = float("nan")  # short-sides/s: one pixel over the time they span
    started_at: set = field(default_factory=set)  # walls it was within a frame's travel of at the start
    travels: bool = False  # it moves more than a pixel in the video (seen whole)
    step_speed: float = float("nan")  # median speed of its frame-to-frame steps: one cut short by a bounce
    # does not move it

    @property
    def speed(self) -> float:
        return math.hypot(self.vx, self.vy)


def world_shift(obs: Observation) -> np.ndarray:
    """(T,) px the world has moved on screen since frame 0 (the stripes move with the world)."""
    if obs.stripe_shift is None or obs.stripe_strength < STRIPE_MIN_STRENGTH:
        return np.zeros(obs.num_frames)
    return np.concatenate([[0.0], np.cumsum(obs.stripe_shift)])


def camera_pan(obs: Observation) -> str | None:
    """"left" | "right" | "static" from the stripes; None when one frame cannot tell."""
    if obs.stripe_shift is None or obs.stripe_strength < STRIPE_MIN_STRENGTH:
        return "static" if obs.num_frames > 1 else None
    # Stripes move with the world, so they slide opposite to the camera.
    speed = -float(np.median(obs.stripe_shift)) * obs.fps / obs.short_side
    if abs(speed) < PAN_MIN_SPEED:
        return "static"
    return "right" if speed > 0 else "left"


def wall_contacts(track: ColorTrack, obs: Observation, panning: bool) -> np.ndarray:
    """(T, 4) bool: touching the left, top, right, bottom wall. Under a pan the side edges of the
    view are no walls (objects bounce off the walls of the first frame's view)."""
    b = track.bbox
    touch = np.stack([b[:, 0] <= NEAR_PX - 1, b[:, 1] <= NEAR_PX - 1,
                      b[:, 2] >= obs.width - NEAR_PX, b[:, 3] >= obs.height - NEAR_PX], axis=1)
    touch &= track.present[:, None]
    if panning:
        touch[:, [0, 2]] = False
    return touch


def estimate_motion(track: ColorTrack, obs: Observation) -> Motion:
    """The object's motion from its first frames: up to the first contact with a wall or another
    object (both change the motion), in world coordinates (a pan's shift taken out)."""
    panning = camera_pan(obs) in ("left", "right")
    s = obs.short_side
    x = (track.cx - world_shift(obs)) / s
    y = track.cy / s
    # Two objects can meet between frames: closing at up to twice the fast speed.
    alone = np.cumsum(track.gap_other <= NEAR_PX + 2 * SPEED_VALUE["fast"] * s / obs.fps) == 0
    walls = wall_contacts(track, obs, panning)
    usable = track.clean() & alone & (np.cumsum(walls.any(axis=1)) == 0)
    if usable.sum() < 2:  # it starts at a wall: its first two positions still tell the motion's axis
        usable = track.clean() & alone
        usable &= np.cumsum(usable) <= 2
    idx = until_turn(np.flatnonzero(usable), x * s, y * s)[:8]
    if len(idx) < 2:
        return Motion(kind=None, frames=len(idx))
    t = idx / obs.fps
    vx = float(np.polyfit(t, x[idx], 1)[0])
    vy = float(np.polyfit(t, y[idx], 1)[0])
    ay = float("nan")
    if len(idx) >= 3:
        ay = float(2 * np.polyfit(t, y[idx], 2)[0])
    # A fast object within one frame's travel of a wall at the start may have bounced already.
    reach = NEAR_PX + SPEED_VALUE["fast"] * s / obs.fps
    b = track.bbox[idx[0]]
    at_start = {"left": b[0] < reach, "up": b[1] < reach, "right": b[2] >= obs.width - reach,
                "down": b[3] >= obs.height - reach}
    motion = Motion(kind=None, vx=vx, vy=vy, ay=ay, frames=len(idx), t_mid=float(t.mean()),
                    tolerance=1.0 / (s * float(t[-1] - t[0])),
                    started_at={w for w, near in at_start.items() if near and not (panning and w in ("left", "right"))})
    motion.step_speed = float(np.median(np.hypot(np.diff(x[idx]), np.diff(y[idx])) / np.diff(t)))
    clean = track.clean()
    first = np.flatnonzero(clean)[0]
    motion.travels = bool(np.nanmax(np.hypot(x[clean] - x[first], y[clean] - y[first])) * s > 1.0)
    motion.kind = classify_motion(motion)
    return motion


def until_turn(idx: np.ndarray, x: np.ndarray, y: np.ndarray, noise_px: float = 0.3) -> np.ndarray:
    """The frames of `idx` before the first reversal of the motion along x or y: a bounce between
    two frames leaves no frame touching the wall or the other object, but it turns the object
    around, and the step before the reversal may already be cut short by it."""
    for p in (x, y):
        step = np.diff(p[idx])
        moving = np.flatnonzero(np.abs(step) > noise_px)
        if len(moving) == 0:
            continue
        turned = moving[np.sign(step[moving]) != np.sign(step[moving[0]])]
        if len(turned):
            end = turned[0]  # steps [0, end) keep the first direction
            if end >= 2 and abs(step[end - 1]) < 0.75 * abs(step[end - 2]) - noise_px:
                end -= 1  # cut short by the bounce
            idx = idx[: end + 1]
    return idx


def classify_motion(m: Motion) -> str:
    if not math.isnan(m.ay) and m.ay > 0.5 * GRAVITY and abs(m.vx) < STILL_SPEED:
        return "fall"
    if m.speed < STILL_SPEED:
        return "still"
    major, minor = max(abs(m.vx), abs(m.vy)), min(abs(m.vx), abs(m.vy))
    if minor > AXIS_RATIO * major:
        return "bounce"
    if abs(m.vx) > abs(m.vy):
        return "right" if m.vx > 0 else "left"
    return "down" if m.vy > 0 else "up"


OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def motion_matches(stated: str, m: Motion) -> bool:
    if stated == m.kind:
        return True
    if stated == "fall" and m.frames == 2:
        # Two frames show no acceleration, but a fall from rest at t = 0 moves at g * t by then.
        expected = GRAVITY * m.t_mid
        return abs(m.vx) < STILL_SPEED + m.tolerance and abs(m.vy - expected) < 0.25 * expected + m.tolerance
    # It started against a wall and bounced off it before the second frame (an object that never
    # moves is still, though).
    turned = ("still", OPPOSITE.get(stated)) if m.travels else (OPPOSITE.get(stated),)
    if stated in m.started_at and m.kind in turned:
        return True
    if stated == "bounce" and m.started_at and m.kind in (*turned, *OPPOSITE):
        return True  # one of its two diagonal components may have bounced already
    return False


def wall_reflections(track: ColorTrack, obs: Observation, falls: bool) -> tuple[int, int]:
    """(reflections, failures): every turn of the motion along x or y should happen at a wall
    (or another object) it was heading for, and no object leaves through a wall.

    A falling object turns from rising to falling in mid-air: that turn is gravity's, not a failure.
    """
    panning = camera_pan(obs) in ("left", "right")
    s = obs.short_side
    idx = np.flatnonzero(track.clean())
    ok = fail = 0
    if len(idx) >= 3:
        b = track.bbox[idx]  # (N, 4)
        # Distance from the box to the wall in the direction of travel, per axis: (negative, positive).
        room = {0: (b[:, 0], obs.width - 1 - b[:, 2]), 1: (b[:, 1], obs.height - 1 - b[:, 3])}
        pos = {0: (track.cx - world_shift(obs))[idx], 1: track.cy[idx]}
        meets = track.gap_other[idx] <= NEAR_PX + 2 * SPEED_VALUE["fast"] * s / obs.fps
        for axis in (0, 1):
            if axis == 0 and panning:
                continue  # the view's side edges are no walls, and the world's are out of sight
            step = np.diff(pos[axis])
            for k in range(1, len(step)):
                if idx[k + 1] - idx[k - 1] != 2:
                    continue  # only turns seen frame by frame: a gap can hide a collision
                before, after = step[k - 1], step[k]
                if abs(before) < 0.3 or abs(after) < 0.3 or np.sign(before) == np.sign(after):
                    continue
                if falls and axis == 1 and before < 0:
                    continue  # the top of a hop
                wall_room = room[axis][1 if before > 0 else 0][k]
                if wall_room <= abs(before) + abs(after) + NEAR_PX or meets[k - 1:k + 2].any():
                    ok += 1
                else:
                    fail += 1
    if not panning:  # leaving through a wall is no reflection
        touch = wall_contacts(track, obs, panning=False).any(axis=1)
        gone = track.present[:-1] & ~track.present[1:] & touch[:-1] & ~track.at_pillar[:-1]
        fail += int(gone.sum())
    return ok, fail
