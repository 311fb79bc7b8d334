"""Metrics to JSONL and TensorBoard, a loss-curve picture, and the progress bar.

One JSON object per logged step in `metrics.jsonl` (easy to read back, to plot,
and to compare between runs); TensorBoard gets the same scalars for people who
watch runs live. Only rank 0 should build a logger.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class MetricsLogger:
    def __init__(self, out_dir: str | Path, tensorboard: bool = True, start_step: int = 0):
        """start_step: the step the run starts (or resumes) at. Rows logged past it by an earlier process
        belong to steps this run redoes, so they are dropped: the log never holds one step twice."""
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / "metrics.jsonl"
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= start_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        self._file = open(self.path, "a")
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when asked for

            self._writer = SummaryWriter(str(self.out_dir / "tensorboard"))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()  # a crashed run keeps every line it logged
        if self._writer is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _plain(value):
    """Tensors and numpy scalars become floats; NaN and inf become strings JSON can hold."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_metrics(jsonl: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(jsonl).read_text().splitlines() if line.strip()]


def plot_loss(jsonl: str | Path, png: str | Path, key: str = "loss") -> Path:
    """Draw `key` against step from a metrics file (skipping rows without a finite value)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_metrics(jsonl) if isinstance(r.get(key), (int, float))]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot([r["step"] for r in rows], [r[key] for r in rows], lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.set_yscale("log" if rows and min(r[key] for r in rows) > 0 else "linear")
    ax.grid(alpha=0.3)
    ax.set_title(f"{key}: {Path(jsonl).parent.name}")
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png


def progress(metrics: bool = True, **kwargs) -> Progress:
    """A rich Progress; with `metrics`, loss and tokens/s columns (add tasks with `loss=nan, tok_s=0.0`)."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    if metrics:
        columns += [TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[tok_s]:,.0f} tok/s")]
    return Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), **kwargs)
