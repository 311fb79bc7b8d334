"""What the Pipeline hands back, the seed it used, and its progress bar."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@dataclass
class PipelineOutput:
    frames: object  # np (B, F, H, W, C) float in [0, 1] | torch same | list of lists of PIL images
    prompt: list[str]
    negative_prompt: str
    height: int
    width: int
    num_frames: int
    fps: float
    seed: int
    steps: int
    guidance_scale: float
    sampler: str
    shift: float
    extra: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "frames"}


class StepBar:
    """Rich progress over denoising steps; a context manager that yields `advance()`."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.bar = total, enabled, None

    def __enter__(self):
        if not self.enabled or self.total == 0:
            return lambda: None
        console = Console(stderr=True)
        self.bar = Progress(TextColumn("denoising"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console, transient=True, disable=not console.is_terminal)
        self.bar.start()
        task = self.bar.add_task("steps", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def cpu_generator(generator) -> tuple[torch.Generator, int]:
    """int seed | Generator | None -> (CPU generator, seed for the metadata)."""
    if isinstance(generator, torch.Generator):
        return generator, generator.initial_seed()
    seed = int(generator) if generator is not None else int(torch.seed() % (2**31))
    return torch.Generator("cpu").manual_seed(seed), seed


def convert(frames: np.ndarray, output_type: str):
    """uint8 (B, F, H, W, 3) -> the requested output type (np / pt: float in [0, 1], same layout)."""
    if output_type == "pil":
        return [[Image.fromarray(f) for f in video] for video in frames]
    as_float = frames.astype(np.float32) / 255.0
    return torch.from_numpy(as_float) if output_type == "pt" else as_float


def to_uint8(frames) -> np.ndarray:
    """Pipeline frames (np / pt in [0, 1]) -> uint8, exactly undoing `convert`."""
    arr = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    return np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
