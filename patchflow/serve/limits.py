"""What a request may ask for: its fields, the uploads its mode takes (from the one mode table), and the
limits of `serve` in the config. Every refusal is a `RequestError` (answered 422) whose message names the
field or the limit and the fix.

Uploads are judged by their content, never by their name: the first bytes say what a file is, a size and
frame-count probe bounds what decoding it would cost, and a full decode proves it is what it claims.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from patchflow import media as video_io
from patchflow.config import ServeConfig
from patchflow.pipeline import MODES, Mode

# name -> (JSON type, what it is): the form's text fields, also the request's OpenAPI schema
TEXT_FIELDS = {
    "prompt": ("string", "what the video shows"),
    "negative_prompt": ("string", "what to steer away from"),
    "mode": ("string", "one of the modes (GET /v1/modes); default text-to-video"),
    "width": ("integer", "pixels, with height; default: the input's size, else the model's first size"),
    "height": ("integer", "pixels, with width"),
    "seconds": ("number", "length (of the new footage for extend, loop (video) and connect); default "
                          "serve.default_seconds"),
    "frames": ("integer", "a frame count instead of seconds"),
    "fps": ("number", "frames per second; default: the input's, else the model's"),
    "steps": ("integer", "denoising steps; default: the model's, at most serve.max_steps"),
    "guidance": ("number", "classifier-free guidance scale; default: the model's"),
    "seed": ("integer", "default: a random one (recorded in the job)"),
    "strength": ("number", "video-to-video only: 0 keeps the input, 1 ignores it"),
    "expand_prompt": ("boolean", "rewrite the prompt with the prompt expander before generating"),
}
MAX_PROMPT_CHARS = 2000
MAX_FPS = 60.0
MAX_GUIDANCE = 30.0
# Inputs are resized to the output, so one larger than twice the largest output only costs memory.
INPUT_SIDE_FACTOR = 2
# Uploads decoded at once: each may hold serve.max_frames frames, so this bounds the server's memory.
DECODING = threading.BoundedSemaphore(2)


class RequestError(ValueError):
    """A request the server refuses (422)."""


@dataclass
class JobRequest:
    """A checked request: what the worker runs (stored as JSON in the job)."""

    prompt: str
    negative_prompt: str
    mode: str
    width: int
    height: int
    frames: int  # what the mode counts (the output, or the new footage; 0 for video-to-video)
    seconds: float | None  # as asked, when asked in seconds
    fps: float
    steps: int
    guidance: float
    seed: int
    strength: float | None
    expand_prompt: bool


@dataclass
class Upload:
    """An upload stored under a generated name and decoded: uint8 frames (T, H, W, 3), its fps (0 for images)."""

    name: str
    frames: np.ndarray
    fps: float


# ----------------------------------------------------------------------------- modes and their uploads


def upload_fields(mode: Mode) -> list[tuple[str, str]]:
    """(form field, kind) of each input of a mode, in the table's order: image, video, video2, ..."""
    seen: Counter = Counter()
    fields = []
    for kind in mode.media:
        seen[kind] += 1
        fields.append((kind if seen[kind] == 1 else f"{kind}{seen[kind]}", kind))
    return fields


UPLOAD_FIELDS = sorted({name for mode in MODES.values() for name, _ in upload_fields(mode)})


def get_mode(name: str) -> Mode:
    if name not in MODES:
        raise RequestError(f"mode {name!r} is unknown; the modes are: {', '.join(MODES)}")
    return MODES[name]


# ----------------------------------------------------------------------------- uploads


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, file extension) from a file's first bytes, or None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", ".png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", ".jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", ".webp"
    if head[4:8] == b"ftyp":
        return "video", ".mov" if head[8:12] == b"qt  " else ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", ".mkv"  # Matroska and WebM
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", ".avi"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "video", ".gif"  # decoded as a (maybe one-frame) video
    return None


def store_upload(source, field: str, kind: str, folder: Path, limits: ServeConfig) -> Upload:
    """Copy an upload (a binary file object) into the job's folder under a generated name, then check it.

    An image field takes an image; a video field takes a video or an image (a one-frame video)."""
    head = source.read(16)
    found = sniff(head)
    accepted = "a PNG, JPEG or WebP image" + (" or an MP4, MOV, WebM, MKV, AVI or GIF video" if kind == "video" else "")
    if found is None or (kind == "image" and found[0] != "image"):
        raise RequestError(f"{field}: the file's content is not {accepted} (the file name is not looked at)")
    path = folder / f"{field}{found[1]}"  # generated: the request's file name is never used
    written = len(head)
    with path.open("wb") as out:
        out.write(head)
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > limits.max_upload_bytes:
                raise RequestError(f"{field}: the file is over the limit serve.max_upload_bytes="
                                   f"{limits.max_upload_bytes}; send a smaller file")
            out.write(chunk)
    max_side = INPUT_SIDE_FACTOR * max(limits.max_width, limits.max_height)
    with DECODING:
        _probe(path, field, found[0], max_side, limits.max_frames)
        try:
            frames, fps = video_io.read_video(path)
        except (video_io.MediaError, OSError, ValueError) as e:
            raise RequestError(f"{field}: the file could not be decoded ({e}); send a real {found[0]}") from e
    return Upload(path.name, frames, fps)


def _probe(path: Path, field: str, kind: str, max_side: int, max_frames: int) -> None:
    """Size and frame count from headers and packets, before anything is decoded."""
    try:
        if kind == "image":
            with Image.open(path) as im:
                width, height, count = im.width, im.height, 1
        else:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise RequestError(f"{field}: the file holds no video stream")
                stream = container.streams.video[0]
                width, height = stream.codec_context.width, stream.codec_context.height
                count = sum(1 for packet in container.demux(stream) if packet.size)
    except (OSError, av.error.FFmpegError, ValueError) as e:
        if isinstance(e, RequestError):
            raise
        raise RequestError(f"{field}: the file could not be read as a {kind} ({e})") from e
    if max(width, height) > max_side:
        raise RequestError(f"{field}: {width}x{height} is over {max_side} pixels a side (twice the largest output "
                           "size, serve.max_width / serve.max_height); resize it first")
    if count > max_frames:
        raise RequestError(f"{field}: the video holds {count} frames, over the limit serve.max_frames={max_frames}; "
                           "trim it first")


# ----------------------------------------------------------------------------- fields


def _number(fields: dict[str, str], name: str, kind: type):
    raw = fields.get(name)  # a form field is present or not: None is "not given", not a hidden default
    if raw is None or raw.strip() == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise RequestError(f"{name} must be {what}, got {raw!r}") from None
    if kind is float and not math.isfinite(value):
        raise RequestError(f"{name} must be a finite number, got {raw!r}")
    return value


def _in_range(name: str, value, low, high, limit: str | None = None):
    if value < low:
        raise RequestError(f"{name} must be at least {low:g}, got {value:g}")
    if value > high:
        where = f"the limit {limit}={high:g}" if limit else f"the most allowed, {high:g}"
        raise RequestError(f"{name} {value:g} is over {where}")
    return value


def _bool(fields: dict[str, str], name: str) -> bool:
    raw = (fields.get(name) or "false").strip().lower()
    if raw not in ("true", "false", "1", "0", "on", "off", "yes", "no"):
        raise RequestError(f"{name} must be true or false, got {raw!r}")
    return raw in ("true", "1", "on", "yes")


def frame_count(mode: Mode, frames: int | None, seconds: float, fps: float, r_t: int) -> int:
    """What the mode counts: `frames` as given (checked), or `seconds` snapped to offset + r_t * k."""
    if mode.counts == "input":
        return 0  # video-to-video keeps its input's length
    if mode.frames is not None:
        return mode.frames if frames is None else frames  # text-to-image: one frame (another count is refused)
    offset = mode.offset
    if frames is not None:
        if frames < max(offset, 1) or (frames - offset) % r_t:
            below = offset + max(0, (frames - offset) // r_t) * r_t
            near = sorted({n for n in (below, below + r_t) if n >= max(offset, 1)})
            form = f"1 + {r_t} * k" if offset else f"{r_t} * k"
            raise RequestError(f"frames {frames}: {mode.name} needs {form} frames; nearest valid: "
                               f"{' or '.join(map(str, near))}")
        return frames
    return offset + r_t * max(0 if offset else 1, round((seconds * fps - offset) / r_t))


def check_request(fields: dict[str, str], mode: Mode, uploads: list[Upload], pipe, limits: ServeConfig,
                  ) -> JobRequest:
    """The form's text fields, checked against the limits and the model; defaults are the model's."""
    cfg = pipe.config
    prompt = fields.get("prompt") or ""
    negative = fields.get("negative_prompt") or ""
    for name, text in (("prompt", prompt), ("negative_prompt", negative)):
        if len(text) > MAX_PROMPT_CHARS:
            raise RequestError(f"{name} has {len(text)} characters, over the most allowed, {MAX_PROMPT_CHARS}")

    width, height = _number(fields, "width", int), _number(fields, "height", int)
    if (width is None) != (height is None):
        raise RequestError("give width and height together")
    if width is None:
        first = uploads[0].frames if uploads else None
        height, width = first.shape[1:3] if first is not None else _size(cfg.world.sizes[0])
    _in_range("width", width, 1, limits.max_width, "serve.max_width")
    _in_range("height", height, 1, limits.max_height, "serve.max_height")
    try:
        pipe.check_size(height, width)
    except ValueError as e:
        raise RequestError(f"{e}" + ("" if fields.get("width") else " (pass width and height)")) from None

    fps = _number(fields, "fps", float)
    if fps is None:
        video_fps = [u.fps for u in uploads if u.fps > 0]
        fps = video_fps[0] if video_fps else float(cfg.data.fps)
    _in_range("fps", fps, 1, MAX_FPS)
    seconds, frames = _number(fields, "seconds", float), _number(fields, "frames", int)
    if seconds is not None and frames is not None:
        raise RequestError("give seconds or frames, not both")
    if seconds is not None:
        if seconds <= 0:
            raise RequestError(f"seconds must be more than 0, got {seconds:g}")
        _in_range("seconds", seconds, 0, limits.max_seconds, "serve.max_seconds")
    if frames is not None:
        _in_range("frames", frames, 0, limits.max_frames, "serve.max_frames")
        if frames / fps > limits.max_seconds:
            raise RequestError(f"frames {frames} at {fps:g} fps is {frames / fps:g} s, over the limit "
                               f"serve.max_seconds={limits.max_seconds:g}")
    count = frame_count(mode, frames, seconds or min(limits.default_seconds, limits.max_seconds), fps,
                        pipe.temporal_factor)

    steps = _number(fields, "steps", int)
    steps = min(cfg.sample.steps, limits.max_steps) if steps is None else steps
    _in_range("steps", steps, 1, limits.max_steps, "serve.max_steps")
    guidance = _number(fields, "guidance", float)
    guidance = cfg.sample.guidance if guidance is None else _in_range("guidance", guidance, 0, MAX_GUIDANCE)
    seed = _number(fields, "seed", int)
    seed = secrets.randbelow(2**31) if seed is None else _in_range("seed", seed, 0, 2**63 - 1)
    strength = _number(fields, "strength", float)
    return JobRequest(prompt, negative, mode.name, width, height, count, seconds, fps, steps, guidance, seed,
                      strength, _bool(fields, "expand_prompt"))


def check_plan(request: JobRequest, uploads: list[Upload], pipe, limits: ServeConfig) -> int:
    """The mode's plan for these inputs, checked (frame forms, strength, the frame limit); returns the number of
    frames the job generates."""
    try:
        plan = pipe.plan_for(request.mode, [u.frames for u in uploads], request.frames, request.height,
                             request.width, request.strength)
        pipe.check_frames(plan.num_frames)
    except ValueError as e:
        raise RequestError(str(e)) from None
    if plan.num_frames > limits.max_frames:
        raise RequestError(f"this job would generate {plan.num_frames} frames, over the limit serve.max_frames="
                           f"{limits.max_frames}; ask for fewer seconds or a shorter input")
    return plan.num_frames


# ----------------------------------------------------------------------------- sizes for the page


def _size(text: str) -> tuple[int, int]:
    """"WxH" -> (height, width)."""
    w, h = (int(v) for v in text.lower().split("x"))
    return h, w


def size_presets(pipe, limits: ServeConfig) -> dict[str, list[int]]:
    """[width, height] for 16:9, 9:16 and 1:1: a size the model was trained at (`world.sizes`) within 10 % of
    the aspect, else one near the first size's area; always valid for the model and within the limits."""
    m = pipe.size_multiple
    trained = [(w, h) for h, w in map(_size, pipe.config.world.sizes)
               if w % m == 0 and h % m == 0 and w <= limits.max_width and h <= limits.max_height]
    base_h, base_w = _size(pipe.config.world.sizes[0])
    presets = {}
    for name, (a, b) in {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}.items():
        near = sorted(trained, key=lambda s: abs(s[0] / s[1] / (a / b) - 1))
        if near and abs(near[0][0] / near[0][1] / (a / b) - 1) <= 0.1:
            presets[name] = list(near[0])
            continue
        h = math.sqrt(base_w * base_h * b / a)
        w = h * a / b
        scale = min(1.0, limits.max_width / w, limits.max_height / h)  # shrink both: keep the aspect
        presets[name] = [min(max(m, round(w * scale / m) * m), limits.max_width // m * m),
                         min(max(m, round(h * scale / m) * m), limits.max_height // m * m)]
    return presets
