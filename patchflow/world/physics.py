"""The world's physics: a SceneSpec in, every object's centre per frame out.

Units are resolution independent: the frame's short side is 1.0, time is in
seconds, y grows downwards. A position is the centre of the shape (for the
triangle: its centroid, which is what any pixel-centroid reader measures).
Objects live in world coordinates and bounce off the walls of the frame as it
stands at t = 0; a panning camera only moves the view (`camera_x`).

Integration is semi-implicit Euler in fixed substeps of at most 1/240 s, so the
fastest thing in the world (a fall over a tall frame, under 3 short-sides/s)
moves about 1% of the short side per substep: no object tunnels through a wall
or through another object.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from patchflow.world.palette import OBJECT_COLORS
from patchflow.world.scene import (
    FALL_RESTITUTION,
    GRAVITY,
    PADDLE_SIZE,
    PAN_SPEED,
    SIZE_FRACTION,
    SPEED_VALUE,
    SceneSpec,
    validate,
)

MAX_SUBSTEP_S = 1 / 240
PONG_BALL_SPEED = SPEED_VALUE["fast"]
PADDLE_MAX_SPEED = 0.45  # short-sides/s: fast enough to return most balls, slow enough to miss some
TRIANGLE_HEIGHT = math.sqrt(3) / 2  # of the side


@dataclass
class Body:
    """One moving thing: its look, its extent around the centre, and its state."""

    color: str  # colour word ("white" for pong)
    shape: str  # circle | square | triangle | ball | paddle
    size: str  # small | large (paddles: "paddle")
    motion: str  # a MOTIONS word ("bounce" for the pong ball, "track" for paddles)
    speed: str
    w: float  # full width, short-sides
    h: float  # full height
    up: float  # distance from the centre to the top edge
    down: float  # ... to the bottom edge
    radius: float  # for object-object contacts (a circle of the shape's half width)
    x: float = 0.0
    y: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    movable: bool = True  # still objects are immovable: they must stay still, as their caption says
    gravity: bool = False

    @property
    def rgb(self) -> tuple[int, int, int]:
        return OBJECT_COLORS[self.color]


@dataclass
class Trajectory:
    """Every body's centre per frame, in short-sides, and the camera's offset."""

    bodies: list[Body]  # their final state; look and extent are what the renderer needs
    x: np.ndarray  # (T, K) centre x per frame and body, world coordinates
    y: np.ndarray  # (T, K)
    camera_x: np.ndarray  # (T,) world x of the view's left edge
    width: float  # frame size in short-sides: max(W, H) / min(W, H) on the long axis, 1.0 on the short
    height: float


def make_body(color: str, shape: str, size: str, motion: str, speed: str) -> Body:
    side = SIZE_FRACTION[size]
    if shape == "triangle":
        h = side * TRIANGLE_HEIGHT
        up, down = 2 * h / 3, h / 3  # the centroid sits a third of the height above the base
    else:
        h = side
        up = down = side / 2
    return Body(color, shape, size, motion, speed, w=side, h=h, up=up, down=down, radius=side / 2,
                movable=motion != "still", gravity=motion == "fall")


def initial_velocity(body: Body, rng: random.Random) -> tuple[float, float]:
    v = SPEED_VALUE[body.speed]
    if body.motion in ("still", "fall"):
        return 0.0, 0.0
    if body.motion == "bounce":
        return rng.choice((-1, 1)) * v / math.sqrt(2), rng.choice((-1, 1)) * v / math.sqrt(2)
    return {"left": (-v, 0.0), "right": (v, 0.0), "up": (0.0, -v), "down": (0.0, v)}[body.motion]


def place(bodies: list[Body], width: float, height: float, rng: random.Random) -> None:
    """Random centres with every body fully inside the frame and no two overlapping.

    Falling bodies start in the upper half so that they visibly fall.
    """
    for _attempt in range(2000):
        for b in bodies:
            bottom = height / 2 if b.gravity else height
            b.x = rng.uniform(b.w / 2, width - b.w / 2)
            b.y = rng.uniform(b.up, max(b.up, bottom - b.down))
        if all(math.dist((a.x, a.y), (b.x, b.y)) > a.radius + b.radius + 0.02
               for i, a in enumerate(bodies) for b in bodies[i + 1:]):
            return
    raise ValueError(f"cannot place {len(bodies)} objects without overlap in a {width:.2f}x{height:.2f} frame")


def bounce_off_walls(b: Body, width: float, height: float) -> None:
    """Reflect position and velocity at the frame edges; the floor is inelastic for falling bodies."""
    half = b.w / 2
    if b.x - half < 0:
        b.x, b.vx = 2 * half - b.x, abs(b.vx)
    elif b.x + half > width:
        b.x, b.vx = 2 * (width - half) - b.x, -abs(b.vx)
    if b.y - b.up < 0:
        b.y, b.vy = 2 * b.up - b.y, abs(b.vy)
    elif b.y + b.down > height:
        floor = height - b.down
        if b.gravity:
            b.y, b.vy = floor, -FALL_RESTITUTION * abs(b.vy)
        else:
            b.y, b.vy = 2 * floor - b.y, -abs(b.vy)


def collide(a: Body, b: Body) -> None:
    """Elastic contact of two equal masses (or a mass and an immovable still object)."""
    dx, dy = b.x - a.x, b.y - a.y
    dist = math.hypot(dx, dy)
    overlap = a.radius + b.radius - dist
    if overlap <= 0 or (not a.movable and not b.movable):
        return
    nx, ny = (dx / dist, dy / dist) if dist > 1e-9 else (1.0, 0.0)
    approach = (a.vx - b.vx) * nx + (a.vy - b.vy) * ny  # > 0: closing in
    if a.movable and b.movable:
        if approach > 0:  # equal masses swap their normal velocity components
            a.vx, a.vy = a.vx - approach * nx, a.vy - approach * ny
            b.vx, b.vy = b.vx + approach * nx, b.vy + approach * ny
        a.x, a.y = a.x - nx * overlap / 2, a.y - ny * overlap / 2
        b.x, b.y = b.x + nx * overlap / 2, b.y + ny * overlap / 2
        return
    mover, sign = (a, 1.0) if a.movable else (b, -1.0)  # sign: normal pointing from mover to the wall
    vn = (mover.vx * nx + mover.vy * ny) * sign
    if vn > 0:  # reflect off the immovable one
        mover.vx, mover.vy = mover.vx - 2 * vn * nx * sign, mover.vy - 2 * vn * ny * sign
    mover.x, mover.y = mover.x - sign * nx * overlap, mover.y - sign * ny * overlap


def pong_bodies(width: float, height: float, rng: random.Random) -> list[Body]:
    """A white ball in the middle heading for a paddle, and one paddle at each side wall."""
    ball = make_body("white", "circle", "small", "bounce", "fast")
    ball.shape = "ball"
    angle = rng.uniform(math.radians(20), math.radians(45))
    ball.x, ball.y = width / 2, rng.uniform(0.3, 0.7) * height
    ball.vx = rng.choice((-1, 1)) * PONG_BALL_SPEED * math.cos(angle)
    ball.vy = rng.choice((-1, 1)) * PONG_BALL_SPEED * math.sin(angle)
    paddles = []
    pw, ph = PADDLE_SIZE
    for x in (pw / 2, width - pw / 2):
        p = Body("white", "paddle", "paddle", "track", "slow", w=pw, h=ph, up=ph / 2, down=ph / 2,
                 radius=pw / 2, x=x, y=height / 2, movable=False)
        paddles.append(p)
    return [ball, *paddles]


def pong_step(ball: Body, paddles: list[Body], width: float, height: float, dt: float) -> None:
    """Paddles chase the ball's height at a capped speed; the ball reflects off their inner faces."""
    for p in paddles:
        step = max(-PADDLE_MAX_SPEED * dt, min(PADDLE_MAX_SPEED * dt, ball.y - p.y))
        p.y = min(max(p.y + step, p.h / 2), height - p.h / 2)
    left, right = paddles
    r = ball.radius
    reach = PADDLE_SIZE[1] / 2 + r  # the ball hits a paddle when their heights are this close
    if ball.vx < 0 and ball.x - r < left.x + left.w / 2 and abs(ball.y - left.y) < reach and ball.x > left.x:
        ball.x, ball.vx = left.x + left.w / 2 + r, abs(ball.vx)
    if ball.vx > 0 and ball.x + r > right.x - right.w / 2 and abs(ball.y - right.y) < reach and ball.x < right.x:
        ball.x, ball.vx = right.x - right.w / 2 - r, -abs(ball.vx)


def simulate(spec: SceneSpec, width_px: int, height_px: int, num_frames: int, fps: float,
             rng: random.Random) -> Trajectory:
    """Run the scene for `num_frames` frames at `fps`; positions are sampled at t = frame / fps."""
    validate(spec)
    if num_frames < 1 or fps <= 0:
        raise ValueError(f"need num_frames >= 1 and fps > 0, got {num_frames} frames at {fps} fps")
    short = min(width_px, height_px)
    width, height = width_px / short, height_px / short
    if spec.pong:
        bodies = pong_bodies(width, height, rng)
    else:
        bodies = [make_body(o.color, o.shape, o.size, o.motion, o.speed) for o in spec.objects]
        place(bodies, width, height, rng)
        for b in bodies:
            b.vx, b.vy = initial_velocity(b, rng)

    substeps = max(1, math.ceil(1 / (fps * MAX_SUBSTEP_S)))
    dt = 1 / (fps * substeps)
    xs = np.zeros((num_frames, len(bodies)))  # (T, K)
    ys = np.zeros((num_frames, len(bodies)))
    for t in range(num_frames):
        xs[t] = [b.x for b in bodies]
        ys[t] = [b.y for b in bodies]
        if t == num_frames - 1:
            break
        for _ in range(substeps):
            step(bodies, spec.pong, width, height, dt)

    pan_sign = {"left": -1.0, "right": 1.0, None: 0.0}[None if spec.pong else spec.pan]
    camera_x = pan_sign * PAN_SPEED * np.arange(num_frames) / fps  # (T,)
    return Trajectory(bodies, xs, ys, camera_x, width, height)


def step(bodies: list[Body], pong: bool, width: float, height: float, dt: float) -> None:
    for b in bodies:
        if b.gravity:
            b.vy += GRAVITY * dt
        if b.movable:
            b.x += b.vx * dt
            b.y += b.vy * dt
    if pong:
        pong_step(bodies[0], bodies[1:], width, height, dt)
        bounce_off_walls(bodies[0], width, height)
        return
    for i, a in enumerate(bodies):
        for b in bodies[i + 1:]:
            collide(a, b)
    for b in bodies:
        if b.movable:
            bounce_off_walls(b, width, height)


__all__ = ["Body", "Trajectory", "simulate", "make_body"]
