"""The trained world captioner: a clip -> a detailed caption in the world's own training style.

    captioner = load_world_captioner("models/world-tiny")   # or the captioner/ folder itself
    captioner.caption(frames)   # (T, H, W, 3) uint8 -> "A small red ball moves quickly to the left. ..."

A small network (world_captioner_model.py) reads the clip's opening frames and names the scene's facts;
the caption is then written by the world's caption writer (`world.captions.make_caption`) from those facts,
so it has exactly the vocabulary and templates that training captions have and always parses back with
`world.parser.parse_caption`. Targets come from the same facts (`scene_targets`), so a fact the network
predicts and a fact a caption states are the same thing.

What a clip cannot show is not guessed from it: an image (one frame) shows no motion, so every object of an
image is captioned as staying still and no paint trail is named (a trail lies under its object at frame 0).
"""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path

import numpy as np
import torch

from patchflow.config import CaptionerConfig, to_dict
from patchflow.model_folder_errors import MissingModelFile, config_from, load_weights, read_json
from patchflow.text.captioner_eval import MOVING
from patchflow.text.frames import check_clip
from patchflow.text.world_captioner_model import BACKGROUNDS, COLORS, CaptionNet, resize_clip
from patchflow.world.captions import make_caption
from patchflow.world.scene import (
    MOTIONS,
    PAN_DIRECTIONS,
    SHAPES,
    SIZES,
    SPEEDS,
    ObjectSpec,
    SceneSpec,
    validate,
)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
SUBFOLDER = "captioner"  # inside a model folder (models/world-tiny/captioner)
CLASS_NAME = "WorldCaptioner"
IGNORE = -1  # a target the clip cannot show (motion of an image) or that does not apply (shape of no object)


def scene_targets(spec: SceneSpec, real_frames: int) -> dict[str, list]:
    """The class index of every head for `spec` seen in `real_frames` frames; IGNORE where nothing can be learnt.

    Scene heads give one index, slot heads a list of eight (one per colour of COLORS)."""
    moving_clip = real_frames > 1
    out = {"background": BACKGROUNDS.index(spec.background), "pong": int(spec.pong), "pillar": int(spec.pillar),
           "pan_moves": int(spec.pan is not None and not spec.pong),
           "pan_dir": PAN_DIRECTIONS.index(spec.pan) if spec.pan and moving_clip and not spec.pong else IGNORE}
    by_color = {o.color: o for o in spec.objects}
    slots = {name: [] for name in ("present", "shape", "size", "motion", "speed", "paints")}
    for color in COLORS:
        o = by_color.get(color)
        slots["present"].append(IGNORE if spec.pong else int(o is not None))
        slots["shape"].append(SHAPES.index(o.shape) if o else IGNORE)
        slots["size"].append(SIZES.index(o.size) if o else IGNORE)
        slots["motion"].append(MOTIONS.index(o.motion) if o and moving_clip else IGNORE)
        slots["speed"].append(SPEEDS.index(o.speed) if o and moving_clip and o.motion in MOVING else IGNORE)
        # a still object's trail lies under it: nothing shows it paints
        shows_paint = o is not None and moving_clip and o.motion != "still"
        slots["paints"].append(int(spec.paint == color) if shows_paint else IGNORE)
    return {**out, **slots}


def decode_scene(logits: dict[str, torch.Tensor], real_frames: int, max_objects: int = 3) -> SceneSpec:
    """One clip's logits (scene heads (classes,), slot heads (8, classes)) -> the SceneSpec they name."""
    background = BACKGROUNDS[int(logits["background"].argmax())]
    if logits["pong"].softmax(-1)[1] > 0.5:
        return SceneSpec(objects=(), background=background, pong=True)
    present = logits["present"].softmax(-1)[:, 1]  # (8,)
    chosen = [int(i) for i in present.argsort(descending=True)[:max_objects] if present[i] > 0.5]
    chosen = sorted(chosen or [int(present.argmax())])  # canonical order: the palette's
    moving_clip = real_frames > 1
    objects = tuple(ObjectSpec(
        color=COLORS[i], shape=SHAPES[int(logits["shape"][i].argmax())], size=SIZES[int(logits["size"][i].argmax())],
        motion=MOTIONS[int(logits["motion"][i].argmax())] if moving_clip else "still",
        speed=SPEEDS[int(logits["speed"][i].argmax())]) for i in chosen)
    paints = logits["paints"].softmax(-1)[:, 1]  # (8,)
    painter = max(chosen, key=lambda i: float(paints[i]))
    shows_trail = moving_clip and objects[chosen.index(painter)].motion != "still"  # a still one covers its trail
    paint = COLORS[painter] if shows_trail and paints[painter] > 0.5 else None
    pan = None
    if logits["pan_moves"].softmax(-1)[1] > 0.5:
        pan = PAN_DIRECTIONS[int(logits["pan_dir"].argmax())]
    spec = SceneSpec(objects=objects, background=background, pillar=bool(logits["pillar"].softmax(-1)[1] > 0.5),
                     paint=paint, pan=pan)
    validate(spec)
    return spec


def clip_tensor(frames: np.ndarray, cfg: CaptionerConfig, fps: float | None = None) -> tuple[torch.Tensor, int]:
    """(T, H, W, 3) uint8 -> ((1, K, 3, H', W') floats in [0, 1] at the network's short side, real frame count).

    The network reads the first K frames at its own fps (a clip of another `fps` is sampled at that rate);
    a shorter clip repeats its last frame (the real count tells the network how many are real)."""
    check_clip(frames)
    stride = 1 if fps is None else max(1, round(fps / cfg.fps))
    picked = frames[::stride][:cfg.frames]
    real = picked.shape[0]
    picked = np.concatenate([picked, np.repeat(picked[-1:], cfg.frames - real, axis=0)])  # (K, H, W, 3)
    x = torch.from_numpy(np.ascontiguousarray(picked)).permute(0, 3, 1, 2).float().div(255)  # (K, 3, H, W)
    return resize_clip(x[None], cfg.short_side), real


class WorldCaptioner:
    """`caption(frames)`: the Captioner interface (text/interfaces.py) for the built-in world."""

    def __init__(self, net: CaptionNet):
        self.net = net.eval()
        self.cfg = net.cfg

    @torch.no_grad()
    def describe(self, frames: np.ndarray, fps: float | None = None) -> SceneSpec:
        """The scene the clip shows, as the network reads it."""
        x, real = clip_tensor(frames, self.cfg, fps)
        logits = self.net(x, torch.tensor([real]))
        return decode_scene({name: value[0] for name, value in logits.items()}, real)

    def caption(self, frames: np.ndarray, fps: float | None = None) -> str:
        """(T, H, W, 3) uint8 -> one detailed caption; the same clip always gets the same words (the caption
        writer's phrasing is seeded by the clip's bytes). `fps`: the clip's rate when not the world's 8."""
        spec = self.describe(frames, fps)
        return make_caption(spec, random.Random(zlib.crc32(np.ascontiguousarray(frames).tobytes())))

    def save_pretrained(self, directory: str | Path) -> Path:
        """config.json (the class name and CaptionerConfig) + model.safetensors."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_NAME).write_text(json.dumps({"_class_name": CLASS_NAME, **to_dict(self.cfg)}, indent=2))
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        save_file(tensors, str(directory / WEIGHTS_NAME))
        return directory


def captioner_folder(path: str | Path) -> Path:
    """The folder holding the captioner's config.json: `path` itself, or `path`/captioner of a model folder."""
    path = Path(path)
    for folder in (path, path / SUBFOLDER):
        if (folder / CONFIG_NAME).is_file() and (folder / WEIGHTS_NAME).is_file():
            return folder
    if not path.exists():
        raise MissingModelFile(f"{path}: no such folder; pass a world captioner folder (config.json + "
                               f"{WEIGHTS_NAME}) or a model folder with a {SUBFOLDER}/ subfolder")
    raise MissingModelFile(f"{path} holds no world captioner: neither it nor {path / SUBFOLDER} has config.json "
                           f"and {WEIGHTS_NAME}; train one with `patchflow caption train` and pass its model folder")


def load_world_captioner(path: str | Path) -> WorldCaptioner:
    """A saved captioner folder, or a model folder with captioner/; a missing or damaged file is a
    ModelFolderError naming it."""
    folder = captioner_folder(path)
    saved = read_json(folder / CONFIG_NAME, "the captioner's settings")
    cfg = config_from(CaptionerConfig, {k: v for k, v in saved.items() if not k.startswith("_")}, folder / CONFIG_NAME)
    net = CaptionNet(cfg)
    load_weights(net, folder / WEIGHTS_NAME)
    return WorldCaptioner(net)


__all__ = ["WorldCaptioner", "load_world_captioner", "captioner_folder", "scene_targets", "decode_scene",
           "clip_tensor", "IGNORE"]
