"""The world captioner's network: a clip's opening frames in, one classification per caption fact out.

The world draws every shape in an exact palette colour and captions an object by its colour, so the network
has one slot per object colour (no two objects of a scene share one): a slot's colour is its name, and no
matching of predictions to objects is needed. It reads the clip in four steps:

1. pixels: per-pixel layers map each colour to features and to maps: per colour slot an object map and a
   trail map (trained pixel by pixel from the truth, captioner_maps.py), plus a few free scene maps;
2. moments: per map and frame, its area, centre and centred moments of order 2 to 4 in short-side units.
   Area tells the size, the moments the shape (a square's mu22 / mu20 mu02 is 1, a disc's 2/3; a triangle is
   skewed along y), the centres per frame the motion (a fall accelerates, a slide keeps its speed);
3. camera: column profiles of every frame, their shift from frame to frame and a convolution over (time,
   width), see the pan's stripes move;
4. heads: a scene MLP (background, pong, pillar, camera) over pooled features, and one MLP shared by the
   eight slots (present, shape, size, motion, speed, paints) over the slot's moments in every frame.

Everything is resolution independent: frames are resized to a fixed short side and positions are in
short-sides, as the world's physics is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from patchflow.config import CaptionerConfig
from patchflow.world.palette import BACKGROUND_COLORS, OBJECT_COLORS
from patchflow.world.scene import MOTIONS, SHAPES, SIZES, SPEEDS

COLORS = tuple(OBJECT_COLORS)
BACKGROUNDS = tuple(BACKGROUND_COLORS)
# Classes per head; every head is a softmax over its classes (a yes/no head has two).
SCENE_HEADS = {"background": len(BACKGROUNDS), "pong": 2, "pillar": 2, "pan_moves": 2, "pan_dir": 2}
SLOT_HEADS = {"present": 2, "shape": len(SHAPES), "size": len(SIZES), "motion": len(MOTIONS),
              "speed": len(SPEEDS), "paints": 2}
MOMENT_ORDERS = [(a, b) for order in (2, 3, 4) for a in range(order + 1) for b in [order - a]]  # 12 of them
MAP_FEATURES = 3 + len(MOMENT_ORDERS)  # log area, centre x, y, the moments
SCENE_MAPS = 4
PROFILE_CHANNELS = 16
EPS = 1e-6
OBJECT_WINDOW = 1.3  # times sqrt(area): holds every shape (a triangle's corners lie 0.88 sqrt(area) out)
SHOWN_LOG_AREA = (math.log(0.003) + 5) / 2  # the scaled log area of a third of the smallest shape
QUADRATIC = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]  # the pairwise products of colour_features


def map_moments(maps: torch.Tensor, short_side: int, window: float = 0.0) -> torch.Tensor:
    """maps (N, H, W, M) in [0, 1] -> (N, M, MAP_FEATURES): log area, centre, scaled centred moments.

    Coordinates are pixel centres in short-sides. A moment mu_ab is scaled by (10 / area)^((a+b)/2), which
    makes it independent of the shape's size and brings it near 1 for the world's shapes. With `window`, only
    pixels within window * sqrt(area) of the centre count (found twice, each time around the last centre):
    a few stray pixels far off would change a fourth moment more than the whole shape does (measured: the
    spread of mu20 over one shape class went from 0.05 with exact masks to 0.9 with learnt maps)."""
    n, h, w, m = maps.shape
    xs = (torch.arange(w, dtype=maps.dtype, device=maps.device) + 0.5) / short_side  # (W,)
    ys = (torch.arange(h, dtype=maps.dtype, device=maps.device) + 0.5) / short_side  # (H,)

    def centre(maps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mass = maps.sum(dim=(1, 2))  # (N, M) in pixels
        cx = (maps.sum(dim=1) * xs[:, None]).sum(1) / (mass + EPS)  # (N, W, M) -> (N, M)
        cy = (maps.sum(dim=2) * ys[:, None]).sum(1) / (mass + EPS)  # (N, H, M) -> (N, M)
        return mass, cx, cy

    mass, cx, cy = centre(maps)
    if window:
        reach = window**2 * mass / short_side**2  # (N, M): the squared radius counted
        for _ in range(2):
            near_x = (xs[None, :, None] - cx[:, None]) ** 2  # (N, W, M)
            near = near_x[:, None] + ((ys[None, :, None] - cy[:, None]) ** 2)[:, :, None]  # (N, H, W, M)
            maps = maps * (near < reach[:, None, None]).to(maps.dtype)  # (N, H, W, M)
            mass, cx, cy = centre(maps)
    area = mass / short_side**2  # (N, M) in short-sides^2
    powers = torch.arange(5, dtype=maps.dtype, device=maps.device)  # 0..4
    dx = (xs[None, None, :] - cx[..., None])[..., None] ** powers  # (N, M, W, 5): (x - cx)^a
    dy = (ys[None, None, :] - cy[..., None])[..., None] ** powers  # (N, M, H, 5): (y - cy)^b
    rows = torch.einsum("nhwm,nmwa->nmha", maps, dx)  # (N, M, H, 5): sum over a row of w (x - cx)^a
    moments = torch.einsum("nmha,nmhb->nmab", rows, dy) / (mass + EPS)[..., None, None]  # (N, M, 5, 5)
    scale = 10.0 / (area + EPS)  # (N, M)
    scaled = [moments[..., a, b] * scale ** ((a + b) / 2) for a, b in MOMENT_ORDERS]
    # log area and moments brought near [-3, 3]: an empty map (log area -9.2) or a few stray pixels (moments
    # of any size) must not swamp the MLPs that read them
    features = [(torch.log(area + 1e-4) + 5) / 2, cx, cy, *[s.clamp(-4.0, 4.0) for s in scaled]]
    return torch.stack(features, dim=-1)  # (N, M, MAP_FEATURES)


def colour_features(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3) in [0, 1] -> (..., 9): the channels and their pairwise products, centred on mid-gray.

    A squared distance to any colour is linear in these, so one unit of the next layer can pick out a small
    ball of colours (an object's, its trail's, a background's stripes) from the first step on."""
    centred = 2 * rgb - 1
    products = [centred[..., i] * centred[..., j] for i, j in QUADRATIC]
    return torch.cat([centred, torch.stack(products, -1)], -1)


def profile_flow(profile: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """(B, P, K, W) column profiles -> (B, P * (K-1)): each profile's shift from one frame to the next, in
    pixels (1D Lucas-Kanade: minus the time difference times the space gradient, over the gradient's energy),
    each column counted by `weight` (B, 1, K, W) when given. A pan shifts the whole background with its
    stripes; a convolution alone finds that slowly (measured: not in 160 steps)."""
    dt = profile[:, :, 1:] - profile[:, :, :-1]  # (B, P, K-1, W)
    mid = (profile[:, :, 1:] + profile[:, :, :-1]) / 2
    dx = (mid[..., 2:] - mid[..., :-2]) / 2  # (B, P, K-1, W-2)
    both = 1.0 if weight is None else torch.minimum(weight[:, :, 1:], weight[:, :, :-1])[..., 1:-1]
    flow = -(both * dt[..., 1:-1] * dx).sum(-1) / ((both * dx * dx).sum(-1) + 1e-4)  # (B, P, K-1)
    return flow.clamp(-5.0, 5.0).flatten(1)


def world_steps(objects: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Each object's step from the frame before, in the world: objects (B, K, 8, F) map features, camera (B, K-1)
    the background's shift in short-sides -> (B, K, 8, 4): step x, y and length in twentieths of a short side
    (a slow object 0.6, a fast one 1.5 at 8 fps), and whether the object shows in both frames (else all 0).

    The camera's shift is taken out (a still object under a pan does not move), and a step to or from a frame
    that hides the object is left out: its centre is noise, many times the size of any real step."""
    shows = (objects[..., 0] > SHOWN_LOG_AREA).to(objects.dtype)  # (B, K, 8)
    both = shows[:, 1:] * shows[:, :-1]  # (B, K-1, 8)
    step = objects[:, 1:, :, 1:3] - objects[:, :-1, :, 1:3]  # (B, K-1, 8, 2)
    step = torch.stack([step[..., 0] - camera[:, :, None], step[..., 1]], -1) * both[..., None] * 20
    out = torch.cat([step, step.norm(dim=-1, keepdim=True), both[..., None]], -1)  # (B, K-1, 8, 4)
    return torch.cat([torch.zeros_like(out[:, :1]), out], 1)  # frame 0 has no step


def mlp(sizes: list[int]) -> nn.Sequential:
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class CaptionNet(nn.Module):
    """(B, K, 3, H, W) frames in [0, 1] and (B,) real-frame counts -> {head: logits}: scene heads (B, classes),
    slot heads (B, 8, classes); and "map_logits" (B, K, H, W, 16), the object and trail maps before their sigmoid."""

    def __init__(self, cfg: CaptionerConfig):
        super().__init__()
        if cfg.frames < 3:
            raise ValueError(f"captioner.frames must be at least 3 (the camera sees motion over 3 frames), "
                             f"got {cfg.frames}")
        self.cfg = cfg
        c, k, slots = cfg.width, cfg.frames, len(COLORS)
        self.num_maps = 2 * slots + SCENE_MAPS  # object and trail map per slot, then the free scene maps
        # Per-pixel layers are Linear on channels-last pixels: a matrix product, several times faster on a
        # CPU than the same 1x1 convolution.
        self.pixels = nn.Sequential(nn.Linear(len(QUADRATIC) + 3, c), nn.ReLU())
        self.maps = nn.Linear(c, SCENE_MAPS)  # scene maps, learnt from the heads
        nn.init.constant_(self.maps.bias, -4.0)  # maps start nearly empty: noise adds little to any moment
        # Object and trail maps have layers of their own, learnt from where the truth puts each object and
        # trail (captioner_maps.py)
        self.object_maps = nn.Sequential(nn.Linear(len(QUADRATIC) + 3, c), nn.ReLU(), nn.Linear(c, 2 * slots))
        nn.init.constant_(self.object_maps[2].bias, -4.0)
        self.profile = nn.Linear(c, 4)  # channels of the column profiles, beside raw RGB
        self.camera = nn.Sequential(
            nn.Conv2d(7, PROFILE_CHANNELS, (2, 5), padding=(0, 2)), nn.GELU(),
            nn.Conv2d(PROFILE_CHANNELS, PROFILE_CHANNELS, (2, 5), padding=(0, 2)), nn.GELU())
        per_frame_scene = 2 * c + SCENE_MAPS * MAP_FEATURES + self.num_maps  # pooled features, scene maps, areas
        camera_width = 2 * PROFILE_CHANNELS + 8 * (k - 1)  # convolved profiles, each profile's flow
        self.scene = mlp([k * per_frame_scene + camera_width + 1, cfg.hidden, cfg.hidden])
        self.scene_heads = nn.ModuleDict({name: nn.Linear(cfg.hidden, n) for name, n in SCENE_HEADS.items()})
        per_frame_slot = 2 * MAP_FEATURES + 4  # object and trail map, and the object's step in the world
        slot_in = k * per_frame_slot + 2 * MAP_FEATURES + camera_width + 1 + slots + cfg.hidden
        self.slot = mlp([slot_in, cfg.hidden, cfg.hidden])
        self.slot_heads = nn.ModuleDict({name: nn.Linear(cfg.hidden, n) for name, n in SLOT_HEADS.items()})

    def forward(self, frames: torch.Tensor, real_frames: torch.Tensor) -> dict[str, torch.Tensor]:
        b, k, _, h, w = frames.shape
        slots, s = len(COLORS), self.cfg.short_side
        rgb = frames.reshape(b * k, 3, h, w).permute(0, 2, 3, 1)  # (B*K, H, W, 3)
        colour = colour_features(rgb)  # (B*K, H, W, 9)
        feats = self.pixels(colour)  # (B*K, H, W, C)
        map_logits = self.object_maps(colour)  # (B*K, H, W, 16): 8 object maps, then 8 trail maps
        # The heads read the object and trail maps but do not train them: a dense per-pixel signal does, and
        # the heads' many gradients would drown it (measured: the maps then stay flat for hundreds of steps).
        # A pixel counts fully above logit 2 and not at all below -2: the faint rest of a map adds no area.
        drawn = ((map_logits.detach() + 2) / 4).clamp(0, 1)  # (B*K, H, W, 16)
        maps = torch.cat([drawn, torch.sigmoid(self.maps(feats))], -1)  # (B*K, H, W, M)
        objects_only = map_moments(maps[..., :slots], s, window=OBJECT_WINDOW)  # (B*K, 8, F)
        moments = torch.cat([objects_only, map_moments(maps[..., slots:], s)], 1)  # (B*K, M, F)
        moments = moments.reshape(b, k, self.num_maps, MAP_FEATURES)  # (B, K, M, F)

        # column means; the mean of a linear map is the map of the mean, so it runs on rows, not on pixels
        profile = torch.cat([self.profile(feats.mean(dim=1)), rgb.mean(dim=1)], -1)  # (B*K, W, 7)
        profile = profile.reshape(b, k, w, 7).permute(0, 3, 1, 2)  # (B, 7, K, W): time and width as an image
        seen = self.camera(profile)  # (B, P, K-2, W)
        # The background's own profile: brightness of the pixels no object or trail map claims (the maps are
        # trained from the truth), so that only the camera, not the objects, moves it.
        background = 1 - drawn.amax(-1)  # (B*K, H, W)
        cover = background.sum(1)  # (B*K, W): background pixels per column
        ground = (rgb.mean(-1) * background).sum(1) / (cover + 1e-3)  # (B*K, W)
        ground_flow = profile_flow(ground.reshape(b, 1, k, w), (cover / h).reshape(b, 1, k, w))  # (B, K-1)
        camera = torch.cat([seen.mean(dim=(2, 3)), seen.amax(dim=(2, 3)), profile_flow(profile), ground_flow], 1)
        share = (real_frames.to(frames.dtype) / k)[:, None]  # (B, 1): 1/K for an image

        pooled = torch.cat([feats.mean(dim=(1, 2)), feats.amax(dim=(1, 2))], -1).reshape(b, k, -1)  # (B, K, 2C)
        scene_maps = moments[:, :, 2 * slots:].reshape(b, k, -1)  # (B, K, SCENE_MAPS * F)
        areas = moments[..., 0]  # (B, K, M) log areas of every map
        scene_in = torch.cat([pooled, scene_maps, areas], -1).reshape(b, -1)  # (B, K * per_frame_scene)
        scene = self.scene(torch.cat([scene_in, camera, share], 1))  # (B, hidden)
        out = {name: head(scene) for name, head in self.scene_heads.items()}

        objects, trails = moments[:, :, :slots], moments[:, :, slots:2 * slots]  # (B, K, 8, F) each
        steps = world_steps(objects, ground_flow / s)  # (B, K, 8, 4)
        per_slot = torch.cat([objects, trails, steps], -1).transpose(1, 2).reshape(b, slots, -1)  # (B, 8, K * F')
        shows = (objects[..., :1] > SHOWN_LOG_AREA).to(objects.dtype)  # (B, K, 8, 1)
        # the object's look over the frames that show it, and its trail's largest: shape and size read off
        # one steady summary instead of frames that a pillar or a neighbour may cut
        look = (objects * shows).sum(1) / shows.sum(1).clamp_min(1.0)  # (B, 8, F)
        per_slot = torch.cat([per_slot, look, trails.amax(dim=1)], -1)  # (B, 8, K * F' + 2F)
        context = torch.cat([camera, share, scene], 1)[:, None].expand(b, slots, -1)  # (B, 8, ctx)
        identity = torch.eye(slots, device=frames.device, dtype=frames.dtype)[None].expand(b, -1, -1)  # (B, 8, 8)
        slot = self.slot(torch.cat([per_slot, context, identity], -1))  # (B, 8, hidden)
        out.update({name: head(slot) for name, head in self.slot_heads.items()})
        out["map_logits"] = map_logits.reshape(b, k, h, w, 2 * slots)  # (B, K, H, W, 16)
        return out


def resize_clip(frames: torch.Tensor, short_side: int) -> torch.Tensor:
    """(N, K, 3, H, W) -> (N, K, 3, H', W') with min(H', W') = short_side and the aspect kept; area averaging
    keeps every shape's interior at its palette colour."""
    n, k, _, h, w = frames.shape
    scale = short_side / min(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size == (h, w):
        return frames
    out = F.interpolate(frames.reshape(n * k, 3, h, w), size=size, mode="area")  # (N*K, 3, H', W')
    return out.reshape(n, k, 3, *size)


__all__ = ["CaptionNet", "map_moments", "resize_clip", "COLORS", "BACKGROUNDS", "SCENE_HEADS", "SLOT_HEADS"]
