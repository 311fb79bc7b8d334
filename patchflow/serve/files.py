"""The files of a job: one folder per job under `serve.outputs_dir`, named by the job's generated id, holding
its uploads (named by their form field) and its output (`output.mp4`, or `output.png` for one frame). GIF and
PNG renderings of an output are made on first request and kept beside it. Every file is written under a
temporary name and renamed, so a reader never sees half a file."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from patchflow import media as video_io

FORMATS = ("mp4", "gif", "png")


def job_folder(outputs_dir: str | Path, job_id: str) -> Path:
    return Path(outputs_dir) / job_id


def remove_job_folder(outputs_dir: str | Path, job_id: str) -> None:
    shutil.rmtree(job_folder(outputs_dir, job_id), ignore_errors=True)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{uuid.uuid4().hex}.partial{path.suffix}")


def write_output(folder: Path, frames: np.ndarray, fps: float) -> str:
    """uint8 (T, H, W, 3) -> output.mp4 (H.264, yuv420p: plays in browsers), or output.png for one frame;
    returns the file's name."""
    path = folder / ("output.png" if len(frames) == 1 else "output.mp4")
    tmp = _temporary(path)
    if len(frames) == 1:
        video_io.write_image(tmp, frames[0])
    else:
        video_io.write_video(tmp, frames, fps, pix_fmt="yuv420p")
    os.replace(tmp, path)
    return path.name


def rendering(folder: Path, output: str, fmt: str, fps: float) -> Path:
    """The output as `fmt`: the file itself, or a GIF / PNG (a contact sheet for a video) made from it once.
    Raises ValueError when the output cannot be had in that format (a video of a still image)."""
    source = folder / output
    if source.suffix == f".{fmt}":
        return source
    if fmt == "mp4":
        raise ValueError("this job made a single image; ask for format=png (or gif)")
    path = folder / f"output.{fmt}"
    if not path.exists():
        frames, _ = video_io.read_video(source)  # (T, H, W, 3) uint8
        tmp = _temporary(path)
        if fmt == "gif":
            video_io.write_gif(tmp, frames, fps)
        else:
            video_io.write_image(tmp, frames[0] if len(frames) == 1 else video_io.contact_sheet(frames))
        os.replace(tmp, path)
    return path
