"""What the Pipeline hands back, the seed it used, and its progress (a bar, or plain lines when piped)."""

from __future__ import annotations

import time
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
    """Progress over denoising steps; a context manager that yields `advance()`.

    On a terminal a rich bar. Piped (a log file, a CI job, `| tee`) rich shows nothing, so a long generation
    would look hung: there it prints a plain line every tenth of the steps and at the last one instead.
    """

    def __init__(self, total: int, enabled: bool, label: str = "denoising"):
        self.total, self.enabled, self.label, self.bar = total, enabled, label, None

    def __enter__(self):
        if not self.enabled or self.total == 0:
            return lambda: None
        console = Console(stderr=True)
        if not console.is_terminal:
            return self._lines(console)
        self.bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console, transient=True)
        self.bar.start()
        task = self.bar.add_task("steps", total=self.total)
        return lambda: self.bar.advance(task)

    def _lines(self, console: Console):
        every, start, done = max(1, self.total // 10), time.perf_counter(), 0

        def advance() -> None:
            nonlocal done
            done += 1
            if done % every == 0 or done == self.total:
                console.print(f"{self.label}: step {done}/{self.total}, {time.perf_counter() - start:.1f} s",
                              markup=False, highlight=False, soft_wrap=True)

        return advance

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
