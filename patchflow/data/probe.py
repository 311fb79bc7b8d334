"""Probe one media file: its displayed size, frame rate, frame count, duration, codec and rotation.

A probe opens the container, decodes the first frame, then seeks near the end and decodes on to
the last frame the container promises: a file that opens but cannot be decoded, or whose index
survived a copy cut short (an mp4 with its index at the front), is caught here, not mid-training.
It never reads the whole file: the seek lands on the last keyframe, so at most one group of
pictures is decoded at the end.
"""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image, ImageOps

from patchflow.media import IMAGE_EXTS, MediaError

# Extensions a scan picks up (patchflow.media reads a few more; a scan keeps to the common ones).
SCAN_VIDEO_EXTS = {".mp4", ".mov", ".webm", ".mkv"}
SCAN_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp"}

# EXIF orientations 5-8 turn the picture a quarter, so the displayed width and height swap.
EXIF_ORIENTATION_TAG = 0x0112
EXIF_QUARTER_TURNS = {5, 6, 7, 8}


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTS


def probe(path: str | Path) -> dict:
    """Manifest columns for one file (without `text`); raises MediaError saying why it is unusable."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise MediaError("empty file (0 bytes)")
    return probe_image(path) if is_image(path) else probe_video(path)


def probe_image(path: Path) -> dict:
    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(EXIF_ORIENTATION_TAG, 1)
            im.load()  # decodes the pixels: a truncated file fails here
            shown = ImageOps.exif_transpose(im) if orientation != 1 else im
            width, height = shown.size
            codec = (im.format or path.suffix[1:]).lower()
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"cannot read image: {e}") from e
    return {
        "num_frames": 1, "height": height, "width": width, "aspect_ratio": height / width, "fps": 0.0,
        "duration": 0.0, "codec": codec, "rotation": 0,
    }


def probe_video(path: Path) -> dict:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError("no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            if fps <= 0:
                raise MediaError("no frame rate in the container")
            first = next(container.decode(stream), None)
            if first is None:
                raise MediaError("no decodable frame")
            duration = _duration_s(container, stream)
            # mp4/mov store the frame count; webm/mkv do not, so it comes from the duration.
            num_frames = int(stream.frames) if stream.frames else int(round(duration * fps))
            _check_last_frame(container, stream, first, num_frames, fps)
            codec = stream.codec_context.name
            rotation = int(first.rotation or 0)
            width, height = first.width, first.height
    except av.error.FFmpegError as e:
        raise MediaError(f"cannot decode: {e.strerror or e}") from e  # strerror: the reason without the path
    except (UnicodeDecodeError, StopIteration) as e:
        raise MediaError(f"cannot decode: {e!r}") from e
    if num_frames < 1:
        raise MediaError("no frames")
    if rotation % 180 != 0:
        width, height = height, width  # report the size as displayed
    return {
        "num_frames": num_frames, "height": height, "width": width, "aspect_ratio": height / width,
        "fps": fps, "duration": duration or num_frames / fps, "codec": codec, "rotation": rotation,
    }


def _check_last_frame(container, stream, first, num_frames: int, fps: float) -> None:
    """Seek to the keyframe before the last promised frame and decode on to it; raise MediaError if the data
    stops short. A frame and a half of slack: a frame count derived from a rounded duration may be one high."""
    if num_frames < 2 or first.time is None:
        return  # nothing beyond the first frame to check, or no timestamps to check it by
    last_s = first.time + (num_frames - 1) / fps
    container.seek(int(max(last_s - 1.0 / fps, 0.0) / stream.time_base), stream=stream, backward=True)
    reached = None
    try:
        for frame in container.decode(stream):
            reached = frame.time if frame.time is not None else reached
            if reached is not None and reached >= last_s - 1.5 / fps:
                return
    except av.error.FFmpegError:
        pass  # data cut mid-packet: judged below by how far decoding got
    got = "nothing decodes near the end" if reached is None else f"decoding stops at {reached:.2f} s"
    raise MediaError(f"cut short: the container promises {num_frames} frames (to {last_s:.2f} s) but {got}; "
                     "the file was probably truncated (re-copy or re-encode it)")


def _duration_s(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0
