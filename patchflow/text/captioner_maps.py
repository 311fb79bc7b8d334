"""What the ground truth says each pixel is: the targets and the loss of the captioner's object and trail maps.

The heads of the world captioner read per-colour maps (world_captioner_model.py); the maps are trained here,
pixel by pixel, from where the render's truth puts each object in each frame, never from the palette:

- object map of colour c: a pixel within a quarter side of c's object centre is c's (inside a disc, a square
  and a triangle alike); one beyond three quarters of a side is not, nor is any pixel of a colour the scene
  lacks; the pixels in between, frames that hide the object and pixels behind the pillar are not judged;
- trail map of colour c: for the object that paints, a pixel within a quarter side of where its centre was in
  an earlier frame (moved with the camera, as the trail is paint on the world), and now away from it and
  from every other object, is trail; one beyond three quarters of a side of every earlier and the present
  centre is not, nor is the painter itself; no pixel is the trail of an object that does not paint.

The pixels of the other objects (and, for trails, the objects and other trails) are hard negatives with a
weight of their own: among all pixels they are few, and on their own they would teach a map "an object is
here" long before "a red one is here".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from patchflow.text.captioner_eval import Clip
from patchflow.text.world_captioner_model import COLORS
from patchflow.world.scene import PAN_SPEED, SIZE_FRACTION

WHERE = ("centres", "seen", "sides", "judged", "stamps", "stamped", "painter", "pillar_edges")


def where_targets(clip: Clip, frames: int, fps: float) -> dict[str, torch.Tensor]:
    """Where the truth puts things, in short-sides: "centres" (K, 8, 2), "seen" (K, 8) (the centre shows),
    "sides" (8,) (0: no such object), "judged" () (False for pong: no slot names its white ball and paddles),
    "stamps" (K, K, 2): the painter's centre of frame s as frame t shows that place, "stamped" (K, K): s < t,
    "painter" (8,) and "pillar_edges" (2,): its left and right edge (both 0 without one). A repeated frame (an
    image) repeats its truth."""
    slots = len(COLORS)
    centres, seen = torch.zeros(frames, slots, 2), torch.zeros(frames, slots, dtype=torch.bool)
    sides, painter = torch.zeros(slots), torch.zeros(slots, dtype=torch.bool)
    stamps, stamped = torch.zeros(frames, frames, 2), torch.zeros(frames, frames, dtype=torch.bool)
    short = min(clip.width, clip.height)
    truth = clip.truth
    real = min(frames, truth["num_frames"])
    pick = [min(t, real - 1) for t in range(frames)]  # padded frames repeat the last real one
    sign = {"left": -1.0, "right": 1.0, None: 0.0}[truth["pan"]]
    cam = torch.tensor([round(sign * PAN_SPEED * t / fps * short) for t in pick], dtype=torch.float32)  # (K,) px
    for o, spec in zip(truth["objects"] if not clip.spec.pong else [], clip.spec.objects, strict=True):
        k = COLORS.index(o["color"])
        x, y = torch.tensor(o["x"])[pick], torch.tensor(o["y"])[pick]  # (K,) screen pixels
        centres[:, k, 0], centres[:, k, 1] = (x + 0.5) / short, (y + 0.5) / short
        seen[:, k] = torch.tensor(o["visible"])[pick]
        sides[k] = SIZE_FRACTION[spec.size]
        if spec.color == clip.spec.paint:
            painter[k] = True
            stamps[..., 0] = (x[None, :] + 0.5 + cam[None, :] - cam[:, None]) / short  # (t, s)
            stamps[..., 1] = ((y + 0.5) / short)[None, :]
            stamped = torch.tensor(pick)[None, :] < torch.tensor(pick)[:, None]  # (t, s): s before t
    pillar = torch.zeros(2)
    if truth["pillar"]:
        half = truth["pillar"]["width"] / 2
        pillar = torch.tensor([truth["pillar"]["x"] + 0.5 - half, truth["pillar"]["x"] + 0.5 + half]) / short
    return {"centres": centres, "seen": seen, "sides": sides, "judged": torch.tensor(not clip.spec.pong),
            "stamps": stamps, "stamped": stamped, "painter": painter, "pillar_edges": pillar}


def weighted_bce(logits: torch.Tensor, groups: list[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """Sum over (mask, label) groups of the mean binary cross-entropy of the masked logits. Means as weighted
    sums: boolean indexing of these (B, K, H, W, 8) tensors costs more than the whole network does."""
    total = logits.new_zeros(())
    for mask, label in groups:
        weight = mask.expand_as(logits).to(logits.dtype)
        loss = F.softplus(-logits) if label else F.softplus(logits)  # the cross-entropy of label 1 or 0
        total = total + (loss * weight).sum() / weight.sum().clamp_min(1.0)
    return total


def map_loss(logits: torch.Tensor, where: dict[str, torch.Tensor], short_side: int) -> tuple[torch.Tensor, dict]:
    """(B, K, H, W, 16) logits (8 object maps, then 8 trail maps) -> (loss, {"loss_maps", "loss_trails"})."""
    b, k, h, w, _ = logits.shape
    slots = len(COLORS)
    xs = (torch.arange(w, dtype=logits.dtype) + 0.5) / short_side  # (W,)
    ys = (torch.arange(h, dtype=logits.dtype) + 0.5) / short_side  # (H,)
    gx, gy = xs[None, None, None, :, None], ys[None, None, :, None, None]  # (1, 1, 1, W, 1), (1, 1, H, 1, 1)
    judged = where["judged"][:, None, None, None, None]  # (B, 1, 1, 1, 1)
    side = where["sides"][:, None, None, None, :]  # (B, 1, 1, 1, 8)
    left, right = where["pillar_edges"][:, 0, None, None, None, None], where["pillar_edges"][:, 1, None, None, None, None]
    open_view = ~((gx > left) & (gx < right))  # (B, 1, 1, W, 1): not behind the pillar

    centres = where["centres"][:, :, None, None]  # (B, K, 1, 1, 8, 2)
    dist = ((gx - centres[..., 0]) ** 2 + (gy - centres[..., 1]) ** 2).sqrt()  # (B, K, H, W, 8)
    seen = where["seen"][:, :, None, None, :] & judged  # (B, K, 1, 1, 8)
    on_object = seen & (dist < 0.25 * side) & open_view
    off_object = (seen & (dist > 0.75 * side)) | ((side == 0) & judged)
    near_object = (dist < 0.75 * side) & (side > 0)  # (B, K, H, W, 8): covered, or maybe covered, by an object
    any_object = on_object.any(-1, keepdim=True)  # (B, K, H, W, 1)
    objects = weighted_bce(logits[..., :slots], [(on_object, 1), (off_object, 0),
                                                  (any_object & ~on_object & off_object, 0)])

    stamps = where["stamps"][:, :, None, None]  # (B, K, 1, 1, K, 2)
    to_stamp = ((gx - stamps[..., 0]) ** 2 + (gy - stamps[..., 1]) ** 2).sqrt()  # (B, K, H, W, K)
    far = torch.full_like(to_stamp, float("inf"))
    past = torch.where(where["stamped"][:, :, None, None, :], to_stamp, far).amin(-1, keepdim=True)  # (B, K, H, W, 1)
    painter = where["painter"][:, None, None, None, :] & judged  # (B, 1, 1, 1, 8)
    painter_side = (side * painter).amax(-1, keepdim=True)  # (B, 1, 1, 1, 1)
    on_trail = painter & (past < 0.25 * painter_side) & ~near_object.any(-1, keepdim=True) & open_view
    off_painter_trail = painter & (past > 0.75 * painter_side) & ~(near_object & painter).any(-1, keepdim=True)
    off_trail = off_painter_trail | (~painter & judged) | (painter & on_object)  # the painter covers its trail
    hard = (any_object | on_trail.any(-1, keepdim=True)) & ~on_trail & off_trail
    trails = weighted_bce(logits[..., slots:], [(on_trail, 1), (off_trail, 0), (hard, 0)])
    return objects + trails, {"loss_maps": objects.item(), "loss_trails": trails.item()}


__all__ = ["where_targets", "map_loss", "WHERE"]
