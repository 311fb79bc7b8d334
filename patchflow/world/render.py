"""Drawing a simulated scene to pixels, with its ground truth.

No anti-aliasing: a pixel belongs to a shape when its centre lies inside it,
so every drawn pixel has exactly a palette value (shared/WORLD.md) and any
checker can classify pixels by colour alone.

Pixel coordinates are array indices: pixel (row i, column j) has its centre at
(x = j, y = i). The truth's x, y are the shape centres (the centroid for the
triangle) in these coordinates, so the mean index of a shape's pixels is its
truth position up to the pixel grid.

Draw order, back to front: background (with pan stripes), paint trail,
objects (in spec order), pillar. Stripes and trail belong to the world and
move with it when the camera pans; the pillar stands in the foreground and
keeps its place in the frame (the truth gives one x for it).
"""

from __future__ import annotations

import math
import random

import numpy as np

from patchflow.world.palette import BACKGROUND_COLORS, PILLAR_COLOR, STRIPE_DELTA, trail_color
from patchflow.world.physics import Body, Trajectory, simulate
from patchflow.world.scene import MIN_SIDE, PILLAR_WIDTH, STRIPE_WIDTH, SceneSpec

SQRT3 = math.sqrt(3)


def check_size(width: int, height: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ValueError(f"frame size {width}x{height} is too small: both sides must be at least {MIN_SIDE} px")


def shape_mask(body: Body, cx: float, cy: float, scale: float, rows: int, cols: int):
    """The pixels of `body` centred at (cx, cy) (index coordinates) in a rows x cols grid.

    Returns (r0, c0, mask) with mask (h, w) bool over [r0:r0+h, c0:c0+w], or None when off the grid.
    """
    half_w = body.w * scale / 2
    up, down = body.up * scale, body.down * scale
    r0, r1 = max(0, math.ceil(cy - up)), min(rows, math.floor(cy + down) + 1)
    c0, c1 = max(0, math.ceil(cx - half_w)), min(cols, math.floor(cx + half_w) + 1)
    if r0 >= r1 or c0 >= c1:
        return None
    ys = np.arange(r0, r1, dtype=np.float64)[:, None] - cy  # (h, 1)
    xs = np.arange(c0, c1, dtype=np.float64)[None, :] - cx  # (1, w)
    if body.shape in ("circle", "ball"):
        mask = xs * xs + ys * ys <= half_w * half_w
    elif body.shape == "triangle":
        depth = ys + up  # distance below the apex; the half width grows as depth / sqrt(3)
        mask = (ys <= down) & (np.abs(xs) <= depth / SQRT3)
    else:  # square, paddle: the bounding box is the shape
        mask = np.ones((r1 - r0, c1 - c0), dtype=bool)
    return r0, c0, mask


def paint(image: np.ndarray, found, rgb) -> None:
    """Set the masked pixels of `image` (h, w, 3) to `rgb`."""
    if found is not None:
        r0, c0, mask = found
        image[r0:r0 + mask.shape[0], c0:c0 + mask.shape[1]][mask] = rgb


def background_canvas(spec: SceneSpec, height: int, canvas_width: int, first_column: int,
                      scale: float) -> np.ndarray:
    """(H, canvas_width, 3) uint8 background in world columns; stripes when the camera pans."""
    rgb = np.asarray(BACKGROUND_COLORS[spec.background], dtype=np.int16)
    row = np.broadcast_to(rgb, (canvas_width, 3)).copy()  # (Wc, 3)
    if spec.pan and not spec.pong:
        world_col = np.arange(canvas_width) + first_column + 0.5  # pixel centres, world px
        stripe = np.floor(world_col / (STRIPE_WIDTH * scale)).astype(np.int64)
        delta = np.where(stripe % 2 == 0, STRIPE_DELTA, -STRIPE_DELTA)  # (Wc,)
        row = row + delta[:, None]
    row = np.clip(row, 0, 255).astype(np.uint8)
    return np.repeat(row[None], height, axis=0)  # (H, Wc, 3), writable: the trail is painted onto it


def render_trajectory(spec: SceneSpec, traj: Trajectory, width: int, height: int, pillar_left: int | None):
    """Pixels of every frame: (T, H, W, 3) uint8, and per body (T,) screen x, y in index coordinates."""
    scale = float(min(width, height))  # px per short-side
    num_frames = len(traj.camera_x)
    # The camera moves by whole pixels so that stripes and the trail (drawn in world columns)
    # shift exactly with the objects.
    cam_px = np.round(traj.camera_x * scale).astype(np.int64)  # (T,)
    first, last = int(cam_px.min()), int(cam_px.max())
    canvas_width = width + last - first
    canvas = background_canvas(spec, height, canvas_width, first, scale)
    screen_x = traj.x * scale - 0.5 - cam_px[:, None]  # (T, K)
    screen_y = traj.y * scale - 0.5  # (T, K)

    painter = next((k for k, b in enumerate(traj.bodies) if spec.paint and b.color == spec.paint), None)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        if painter is not None:  # the trail is paint on the world itself: it persists and pans with it
            stamp_trail(canvas, traj, painter, t, scale, first)
        offset = cam_px[t] - first  # canvas column of screen column 0
        frame = frames[t]
        frame[:] = canvas[:, offset:offset + width]
        for k, body in enumerate(traj.bodies):
            paint(frame, shape_mask(body, screen_x[t, k], screen_y[t, k], scale, height, width), body.rgb)
        if pillar_left is not None:
            frame[:, pillar_left:pillar_left + pillar_px(scale)] = PILLAR_COLOR
    return frames, screen_x, screen_y


def stamp_trail(canvas: np.ndarray, traj: Trajectory, k: int, t: int, scale: float, first: int) -> None:
    """Paint body k's footprint along its way from frame t - 1 to frame t onto the world canvas."""
    body = traj.bodies[k]
    rgb = trail_color(body.rgb)
    x1, y1 = traj.x[t, k] * scale - 0.5 - first, traj.y[t, k] * scale - 0.5
    x0, y0 = (traj.x[t - 1, k] * scale - 0.5 - first, traj.y[t - 1, k] * scale - 0.5) if t else (x1, y1)
    # Stamps at most a quarter of the body apart leave a continuous band.
    steps = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / max(1.0, body.w * scale / 4)))
    for s in range(1, steps + 1):
        a = s / steps
        paint(canvas, shape_mask(body, x0 + a * (x1 - x0), y0 + a * (y1 - y0), scale, *canvas.shape[:2]), rgb)


def pillar_px(scale: float) -> int:
    return max(1, round(PILLAR_WIDTH * scale))


def render_scene(spec: SceneSpec, width: int, height: int, num_frames: int, fps: float = 8.0,
                 seed: int = 0) -> tuple[np.ndarray, dict]:
    """Simulate and draw `spec`: frames (T, H, W, 3) uint8 and the truth dict (docs/interfaces.md).

    The seed decides initial positions, directions and the pillar's place; the same seed gives the
    same video at any size.
    """
    check_size(width, height)
    rng = random.Random(seed)
    traj = simulate(spec, width, height, num_frames, fps, rng)
    scale = min(width, height)
    pillar_left = rng.randint(0, width - pillar_px(scale)) if spec.pillar else None
    frames, xs, ys = render_trajectory(spec, traj, width, height, pillar_left)

    cols, rows = np.floor(xs + 0.5), np.floor(ys + 0.5)  # (T, K) the pixel that holds each centre
    visible = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    if pillar_left is not None:
        visible &= (cols < pillar_left) | (cols >= pillar_left + pillar_px(scale))
    truth = {
        "width": width, "height": height, "fps": fps, "num_frames": num_frames,
        "background": spec.background,
        # x: the pillar's centre in index coordinates (its columns are [x - (width - 1) / 2, x + (width - 1) / 2]).
        "pillar": ({"x": pillar_left + (pillar_px(scale) - 1) / 2, "width": pillar_px(scale)}
                   if pillar_left is not None else None),
        "paint": spec.paint, "pan": None if spec.pong else spec.pan, "pong": spec.pong,
        "objects": [
            {"color": b.color, "shape": b.shape, "size": b.size, "motion": b.motion, "speed": b.speed,
             "x": [round(float(v), 3) for v in xs[:, k]], "y": [round(float(v), 3) for v in ys[:, k]],
             "visible": [bool(v) for v in visible[:, k]]}
            for k, b in enumerate(traj.bodies)
        ],
    }
    return frames, truth


__all__ = ["render_scene", "check_size", "shape_mask"]
