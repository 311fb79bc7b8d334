"""Reading the world back from pixels: frames -> per-frame measurements.

Everything here uses only shared/WORLD.md's contract (palette values, pillar,
trails, stripes, sizes), so it reads generated videos as well as rendered ones.
Pixels are classified by the nearest palette colour (a lookup table over
quantised RGB, so an H.264 round trip that moves colours a few values changes
nothing); objects are then measured with soft coverage, which keeps a 5-pixel
object's area and centroid sub-pixel accurate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from patchflow.world.palette import (
    BACKGROUND_COLORS,
    OBJECT_COLORS,
    PILLAR_COLOR,
    STRIPE_DELTA,
    trail_color,
)
from patchflow.world.scene import PADDLE_SIZE, SIZE_FRACTION

COLOR_NAMES = tuple(OBJECT_COLORS)
# Label ids of the classified frames.
UNKNOWN, BG, STRIPE_HI, STRIPE_LO, PILLAR = 0, 1, 2, 3, 4
OBJ0 = 5  # object colour i has label OBJ0 + i
TRAIL0 = OBJ0 + len(COLOR_NAMES)  # its trail has label TRAIL0 + i
MATCH_TOLERANCE = 30.0  # RGB distance beyond which a pixel is no palette colour (a blend or an artefact)
QUANT_BITS = 6  # lookup-table resolution per channel: 2 values of rounding error, well under a stripe's 12
TRAIL_MARGIN = 3  # px around an object where half-value pixels are its anti-aliased edge, not a trail
NEAR_PX = 2  # px: "adjacent" for pillar, frame edge and other objects
STRIPE_MIN_STRENGTH = 3.0  # colour values: weaker periodic background is no stripes (they are +-12)


def _shift(rgb, delta):
    return tuple(min(255, max(0, v + delta)) for v in rgb)


def reference_colors(background: str) -> np.ndarray:
    """(K, 3) float colours indexed by label (label 0, unknown, has a dummy row)."""
    bg = BACKGROUND_COLORS[background]
    rows = [(-1000, -1000, -1000), bg, _shift(bg, STRIPE_DELTA), _shift(bg, -STRIPE_DELTA), PILLAR_COLOR]
    rows += [OBJECT_COLORS[c] for c in COLOR_NAMES]
    rows += [trail_color(OBJECT_COLORS[c]) for c in COLOR_NAMES]
    return np.asarray(rows, dtype=np.float32)


@lru_cache(maxsize=8)
def _label_table(background: str) -> np.ndarray:
    """Nearest-palette label for every quantised RGB value, as a flat lookup table."""
    levels = (np.arange(1 << QUANT_BITS, dtype=np.float32) + 0.5) * (256 >> QUANT_BITS)
    refs = reference_colors(background)
    best = np.full((len(levels),) * 3, np.inf, dtype=np.float32)  # (Q, Q, Q) over r, g, b
    labels = np.zeros(best.shape, dtype=np.int8)
    for label in range(1, len(refs)):  # a running minimum of squared distances, channel by channel
        r, g, b = ((levels - c) ** 2 for c in refs[label])
        dist2 = r[:, None, None] + g[None, :, None] + b[None, None, :]
        closer = dist2 < best
        best[closer], labels[closer] = dist2[closer], label
    labels[best > MATCH_TOLERANCE**2] = UNKNOWN
    return labels.reshape(-1)


def classify(frames: np.ndarray, background: str) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, H, W) int8 labels."""
    q = (frames >> (8 - QUANT_BITS)).astype(np.int32)
    index = (q[..., 0] << (2 * QUANT_BITS)) | (q[..., 1] << QUANT_BITS) | q[..., 2]
    return _label_table(background)[index]


def detect_background(frames: np.ndarray) -> tuple[str, float]:
    """The background word whose colour (or stripes of +-12 around it) covers most pixels, and that share."""
    step = max(1, len(frames) // 8)  # a few frames tell the background
    sample = frames[::step, ::2, ::2].reshape(-1, 3).astype(np.float32)
    best, best_share = "black", -1.0
    for word, rgb in BACKGROUND_COLORS.items():
        near = np.zeros(len(sample), dtype=bool)
        for delta in (0, STRIPE_DELTA, -STRIPE_DELTA):
            diff = sample - np.asarray(_shift(rgb, delta), np.float32)
            near |= np.einsum("nc,nc->n", diff, diff) < 100
        share = float(near.mean())
        if share > best_share:
            best, best_share = word, share
    return best, best_share


def detect_pillar(labels: np.ndarray) -> np.ndarray:
    """(T, 2) int pillar column range [x0, x1] per frame, -1 where there is none.

    The pillar is drawn in front of everything, so its columns are pillar-coloured
    from top to bottom; a column counts when most of it is.
    """
    column_share = (labels == PILLAR).mean(axis=1)  # (T, W)
    full = column_share >= 0.6
    t, w = full.shape
    ranges = np.full((t, 2), -1, dtype=np.int64)
    has = full.any(axis=1)
    ranges[has, 0] = full[has].argmax(axis=1)
    ranges[has, 1] = w - 1 - full[has, ::-1].argmax(axis=1)
    return ranges


def _bbox(mask: np.ndarray) -> np.ndarray:
    """(T, H, W) bool -> (T, 4) [x0, y0, x1, y1] inclusive, -1 where empty."""
    t, h, w = mask.shape
    rows, cols = mask.any(axis=2), mask.any(axis=1)
    box = np.full((t, 4), -1, dtype=np.int64)
    has = rows.any(axis=1)
    box[has, 0] = cols[has].argmax(axis=1)
    box[has, 1] = rows[has].argmax(axis=1)
    box[has, 2] = w - 1 - cols[has, ::-1].argmax(axis=1)
    box[has, 3] = h - 1 - rows[has, ::-1].argmax(axis=1)
    return box


@dataclass
class ColorTrack:
    """One object colour through the video (per-frame arrays of length T; NaN / -1 where absent)."""

    color: str
    present: np.ndarray  # bool: a solid (2x2) patch of the colour is in the frame
    pixels: np.ndarray  # int: pixels of the colour near that patch
    area: np.ndarray  # float: soft-coverage area, px
    cx: np.ndarray
    cy: np.ndarray  # float: soft-coverage centroid, px
    bbox: np.ndarray  # (T, 4) [x0, y0, x1, y1]
    masks: list  # per frame: (x0, y0, (h, w) bool pixels mostly of the colour), None where absent
    at_pillar: np.ndarray  # bool: overlapping or adjacent to the pillar
    at_edge: np.ndarray  # bool: touching a frame edge
    gap_other: np.ndarray  # float: px between its box and the nearest other object's (inf: alone)
    trail: np.ndarray  # int: pixels of the colour's trail away from the object itself
    trail_kept: float = float("nan")  # share of trail pixels still there a frame later (NaN: no trail)

    def clean(self) -> np.ndarray:
        """Frames where the whole object is seen alone: shape and position can be trusted."""
        ok = self.present & ~self.at_pillar & (self.gap_other > NEAR_PX)
        if ok.any():  # partly outside the frame (pan) or cut: much smaller than usual
            ok &= self.area >= 0.8 * np.median(self.area[ok])
        return ok


@dataclass
class Observation:
    """What a video shows, read from its pixels."""

    width: int
    height: int
    fps: float
    num_frames: int
    background: str
    background_share: float  # share of pixels that are background (or its stripes)
    pillar: np.ndarray  # (T, 2) column range per frame, -1 where none
    tracks: dict[str, ColorTrack] = field(default_factory=dict)  # colour word -> track, present colours only
    stripe_shift: np.ndarray | None = None  # (T-1,) px per frame of the stripe pattern (+ = moves right)
    stripe_strength: float = 0.0  # amplitude of the stripes, in colour values
    pong_ball: ColorTrack | None = None  # white outside the paddle strips at the side walls
    paddles: np.ndarray | None = None  # (T, 2) bool: a paddle at the left, right wall

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)

    @property
    def has_pillar(self) -> bool:
        return bool((self.pillar[:, 0] >= 0).mean() >= 0.5)


def soft_coverage(patch: np.ndarray, color: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Per pixel, how much of it is `color`, modelling it as a blend of `color` with the
    best-fitting other palette colour (anti-aliased edge over background, stripe, pillar, ...).

    patch (h, w, 3) float, color (3,), others (K, 3) -> (h, w) in [0, 1]. Call it on the pixels
    that are no palette colour only: the others are 1 (this colour) or 0 (any other) as they are.
    """
    direction = color[None, :] - others  # (K, 3)
    offset = patch[:, :, None, :] - others[None, None]  # (h, w, K, 3)
    alpha = (offset * direction).sum(-1) / (direction * direction).sum(-1)  # (h, w, K)
    alpha = np.clip(alpha, 0.0, 1.0)
    residual = np.linalg.norm(offset - alpha[..., None] * direction, axis=-1)  # (h, w, K)
    # Near ties (a trail is also a half-blend with black): take the smaller coverage.
    best = residual.min(axis=-1, keepdims=True)
    alpha = np.where(residual <= best + 6.0, alpha, 2.0).min(axis=-1)
    alpha[best[..., 0] > MATCH_TOLERANCE] = 0.0
    return alpha


def shape_mask(shape: str, side: float, cx: float, cy: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pixels whose centre lies inside a shape of characteristic length `side` (diameter or side)
    centred at (cx, cy) (the triangle: its centroid), the way WORLD.md's shapes are drawn.

    xs (..., 1, w) and ys (..., h, 1) are pixel-centre coordinates; returns (..., h, w) bool.
    """
    dx, dy = xs - cx, ys - cy
    if shape == "circle":
        return dx * dx + dy * dy <= side * side / 4
    if shape == "square":
        return (np.abs(dx) <= side / 2) & (np.abs(dy) <= side / 2)
    height = side * math.sqrt(3) / 2  # equilateral, pointing up; the centroid is h/3 above the base
    return (dy <= height / 3) & (np.abs(dx) <= (dy + 2 * height / 3) / math.sqrt(3))


SHAPE_CANDIDATES = [(shape, size) for shape in ("circle", "square", "triangle") for size in SIZE_FRACTION]
_OFFSETS = np.array([-0.3, 0.0, 0.3])  # px: the centroid of a few pixels is only that exact


def shape_scores(mask: np.ndarray, x0: int, y0: int, cx: float, cy: float, short_side: int) -> np.ndarray:
    """IoU of an object's pixels with each (shape, size) candidate drawn at its centroid.

    mask (h, w) bool at (x0, y0) in the frame; returns (len(SHAPE_CANDIDATES),), best over small
    shifts of the centre. Drawing each candidate at the measured centre compares like with like
    even for 5-pixel objects, where a 4x4 block can be a small circle or a small square.
    """
    reach = SIZE_FRACTION["large"] * short_side / 2 + 2
    gx0, gy0 = math.floor(min(x0, cx - reach)), math.floor(min(y0, cy - reach))
    gx1, gy1 = math.ceil(max(x0 + mask.shape[1], cx + reach)), math.ceil(max(y0 + mask.shape[0], cy + reach))
    seen = np.zeros((gy1 - gy0, gx1 - gx0), dtype=bool)
    seen[y0 - gy0:y0 - gy0 + mask.shape[0], x0 - gx0:x0 - gx0 + mask.shape[1]] = mask
    xs = np.arange(gx0, gx1, dtype=np.float64)[None, None, :]  # (1, 1, w)
    ys = np.arange(gy0, gy1, dtype=np.float64)[None, :, None]  # (1, h, 1)
    ox, oy = np.meshgrid(_OFFSETS, _OFFSETS)
    ox, oy = ox.reshape(-1, 1, 1), oy.reshape(-1, 1, 1)  # (9, 1, 1)
    scores = []
    for shape, size in SHAPE_CANDIDATES:
        drawn = shape_mask(shape, SIZE_FRACTION[size] * short_side, cx + ox, cy + oy, xs, ys)  # (9, h, w)
        inter = (drawn & seen).sum(axis=(1, 2))
        union = (drawn | seen).sum(axis=(1, 2))
        scores.append(float((inter / np.maximum(union, 1)).max()))
    return np.asarray(scores)


def _dilate_x(ranges: np.ndarray, margin: int) -> np.ndarray:
    out = ranges.copy()
    has = ranges[:, 0] >= 0
    out[has, 0] -= margin
    out[has, 1] += margin
    return out


def build_track(frames: np.ndarray, labels: np.ndarray, i: int, pillar: np.ndarray, short_side: int,
                others: np.ndarray) -> ColorTrack | None:
    """Measure object colour `COLOR_NAMES[i]` in every frame; None if it never appears."""
    t, h, w = labels.shape
    mask = labels == OBJ0 + i
    # A solid 2x2 block: one-pixel-wide blends between two other colours never make one.
    core = mask[:, :-1, :-1] & mask[:, 1:, :-1] & mask[:, :-1, 1:] & mask[:, 1:, 1:]  # (T, H-1, W-1)
    present = core.any(axis=(1, 2))
    if not present.any():
        return None
    core_box = _bbox(core)
    nan = np.full(t, np.nan)
    area, cx, cy = nan.copy(), nan.copy(), nan.copy()
    pixels = np.zeros(t, dtype=np.int64)
    bbox = np.full((t, 4), -1, dtype=np.int64)
    masks = [None] * t
    trail = (labels == TRAIL0 + i).sum(axis=(1, 2))
    color = np.asarray(OBJECT_COLORS[COLOR_NAMES[i]], np.float32)
    for k in np.flatnonzero(present):
        x0, y0, x1, y1 = core_box[k]
        # Region around the solid core: the triangle's tip and anti-aliased edges lie outside it.
        rx0, ry0 = max(0, x0 - TRAIL_MARGIN), max(0, y0 - TRAIL_MARGIN)
        rx1, ry1 = min(w, x1 + 2 + TRAIL_MARGIN), min(h, y1 + 2 + TRAIL_MARGIN)
        trail[k] -= int((labels[k, ry0:ry1, rx0:rx1] == TRAIL0 + i).sum())
        local = mask[k, ry0:ry1, rx0:rx1]
        pixels[k] = int(local.sum())
        lb = _bbox(local[None])[0]
        bbox[k] = lb + np.array([rx0, ry0, rx0, ry0])
        # Soft coverage over the hard box grown by one pixel (its anti-aliased rim).
        sx0, sy0 = max(0, bbox[k, 0] - 1), max(0, bbox[k, 1] - 1)
        sx1, sy1 = min(w, bbox[k, 2] + 2), min(h, bbox[k, 3] + 2)
        alpha = mask[k, sy0:sy1, sx0:sx1].astype(np.float64)
        blend = labels[k, sy0:sy1, sx0:sx1] == UNKNOWN
        if blend.any():
            patch = frames[k, sy0:sy1, sx0:sx1][blend].astype(np.float32)[None]  # (1, n, 3)
            alpha[blend] = soft_coverage(patch, color, others)[0]
        area[k] = alpha.sum()
        ys, xs = np.mgrid[sy0:sy1, sx0:sx1]
        cx[k] = (alpha * xs).sum() / area[k]
        cy[k] = (alpha * ys).sum() / area[k]
        masks[k] = (sx0, sy0, alpha > 0.5)
    has_pillar = pillar[:, 0] >= 0
    near_pillar = _dilate_x(pillar, NEAR_PX)
    at_pillar = has_pillar & present & (bbox[:, 2] >= near_pillar[:, 0]) & (bbox[:, 0] <= near_pillar[:, 1])
    at_edge = present & ((bbox[:, 0] <= NEAR_PX - 1) | (bbox[:, 1] <= NEAR_PX - 1)
                         | (bbox[:, 2] >= w - NEAR_PX) | (bbox[:, 3] >= h - NEAR_PX))
    return ColorTrack(
        color=COLOR_NAMES[i], present=present, pixels=pixels, area=area, cx=cx, cy=cy, bbox=bbox,
        masks=masks, at_pillar=at_pillar, at_edge=at_edge, gap_other=np.full(t, np.inf),
        trail=np.maximum(trail, 0),
    )


def _measure_gaps(tracks: dict[str, ColorTrack]) -> None:
    """Per frame, the gap in px between each object's box and the nearest other object's box."""
    items = list(tracks.values())
    for a in items:
        for b in items:
            if a is b:
                continue
            both = a.present & b.present
            gap_x = np.maximum(a.bbox[:, 0] - b.bbox[:, 2], b.bbox[:, 0] - a.bbox[:, 2])
            gap_y = np.maximum(a.bbox[:, 1] - b.bbox[:, 3], b.bbox[:, 1] - a.bbox[:, 3])
            gap = np.where(both, np.maximum(gap_x, gap_y) - 1, np.inf)  # boxes are inclusive
            a.gap_other = np.minimum(a.gap_other, gap)


def stripe_motion(frames: np.ndarray, labels: np.ndarray, background: str) -> tuple[np.ndarray | None, float]:
    """Horizontal motion of the background's stripes: (per-frame shift in px, + = right; amplitude).

    Each frame's column profile of background brightness (background pixels only) is
    reduced to the phase of its strongest spatial frequency; the phase change between
    frames is the shift, sub-pixel, whatever the stripe period.
    """
    t, h, w, _ = frames.shape
    is_bg = (labels == BG) | (labels == STRIPE_HI) | (labels == STRIPE_LO)  # (T, H, W)
    bg_value = float(np.mean(BACKGROUND_COLORS[background]))
    value = frames.astype(np.float32).mean(axis=-1) - bg_value  # (T, H, W)
    counts = is_bg.sum(axis=1)  # (T, W)
    profile = np.where(counts > 0, (value * is_bg).sum(axis=1) / np.maximum(counts, 1), 0.0)  # (T, W)
    profile = profile - profile.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(profile, axis=1)  # (T, W//2+1)
    power = (np.abs(spectrum) ** 2).mean(axis=0)
    power[0] = 0.0
    k = int(power.argmax())
    strength = float(2 * np.sqrt(power[k]) / w)  # amplitude of that sinusoid, in colour values
    if t < 2 or k == 0:
        return None, strength
    phase = np.unwrap(np.angle(spectrum[:, k]))
    period = w / k
    # A pattern moving right by d has its phase reduced by 2 pi d / period.
    return -np.diff(phase) * period / (2 * np.pi), strength


def trail_persistence(labels: np.ndarray, i: int, shift: np.ndarray) -> float:
    """Share of the colour's trail pixels that are still trail a frame later, where the world moved
    by `shift` px (a pan) and counting pixels that an object or the pillar now covers as kept."""
    trail = labels == TRAIL0 + i  # (T, H, W)
    w = labels.shape[2]
    kept = total = 0
    for t in range(len(labels) - 1):
        d = int(round(shift[t]))
        src = trail[t, :, max(0, -d):w - max(0, d)]  # the part still in view a frame later
        dst = labels[t + 1, :, max(0, d):w - max(0, -d)]
        covered = (dst == TRAIL0 + i) | (dst >= OBJ0) & (dst < TRAIL0) | (dst == PILLAR)
        total += int(src.sum())
        kept += int((src & covered).sum())
    return kept / total if total else float("nan")


def observe(frames: np.ndarray, fps: float) -> Observation:
    """Parse (T, H, W, 3) uint8 frames into an Observation."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"observe wants uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    t, h, w, _ = frames.shape
    background, share = detect_background(frames)
    labels = classify(frames, background)
    pillar = detect_pillar(labels)
    others_all = reference_colors(background)[1:]
    short_side = min(h, w)
    tracks = {}
    for i, name in enumerate(COLOR_NAMES):
        # Blends are judged against every palette colour but this one; on black, also not its
        # own trail, which is then exactly a 50% blend of the colour with the background.
        own = (OBJ0 + i, TRAIL0 + i) if background == "black" else (OBJ0 + i,)
        keep = [j for j in range(len(others_all)) if j + 1 not in own]
        track = build_track(frames, labels, i, pillar, short_side, others_all[keep])
        if track is not None:
            tracks[name] = track
    _measure_gaps(tracks)
    shift, strength = stripe_motion(frames, labels, background)
    world_step = shift if shift is not None and strength >= STRIPE_MIN_STRENGTH else np.zeros(max(t - 1, 0))
    for track in tracks.values():
        if track.trail.any():
            track.trail_kept = trail_persistence(labels, COLOR_NAMES.index(track.color), world_step)
    ball, paddles = None, None
    if "white" in tracks:
        ball, paddles = observe_pong(frames, labels, pillar, short_side, others_all)
    return Observation(
        width=w, height=h, fps=float(fps), num_frames=t, background=background, background_share=share,
        pillar=pillar, tracks=tracks, stripe_shift=shift, stripe_strength=strength, pong_ball=ball,
        paddles=paddles,
    )


def observe_pong(frames, labels, pillar, short_side, others):
    """Pong's white parts: paddles are tall white runs in a strip along each side wall (they are
    0.05 x 0.25 short sides); the ball is the white outside those strips."""
    t, h, w = labels.shape
    white = COLOR_NAMES.index("white")
    strip = math.ceil(PADDLE_SIZE[0] * short_side) + NEAR_PX
    is_white = labels == OBJ0 + white
    paddles = np.zeros((t, 2), dtype=bool)
    for side, cols in enumerate((slice(0, strip), slice(w - strip, w))):
        rows = is_white[:, :, cols].any(axis=2)  # (T, H)
        paddles[:, side] = rows.sum(axis=1) >= 0.2 * short_side
    outside = labels.copy()
    outside[:, :, :strip][is_white[:, :, :strip]] = UNKNOWN
    outside[:, :, w - strip:][is_white[:, :, w - strip:]] = UNKNOWN
    keep = [j for j in range(len(others)) if j + 1 != OBJ0 + white]
    return build_track(frames, outside, white, pillar, short_side, others[keep]), paddles
