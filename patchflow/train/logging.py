"""Metrics to JSONL and TensorBoard, a loss-curve picture, and the progress bar.

One JSON object per logged step in `metrics.jsonl` (easy to read back, to plot,
and to compare between runs); TensorBoard gets the same scalars for people who
watch runs live. Only rank 0 should build a logger.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


class MetricsLogger:
    def __init__(self, out_dir: str | Path, tensorboard: bool = True, start_step: int = 0):
        """start_step: the step the run starts (or resumes) at. Rows logged past it by an earlier process
        belong to steps this run redoes, so they are dropped: the log never holds one step twice."""
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / "metrics.jsonl"
        if self.path.exists():
            kept = [row for row in _whole_rows(self.path) if row["step"] <= start_step]
            tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")  # a kill now leaves the old file
            tmp.write_text("".join(json.dumps(row) + "\n" for row in kept))
            os.replace(tmp, self.path)
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


def _whole_rows(path: Path) -> list[dict]:
    """The rows of an earlier run's metrics.jsonl. A half-written last line (the run was killed mid-write)
    is dropped with a warning; a broken line before it is damage this cannot guess around, so an error."""
    lines = [(number, line) for number, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]
    rows = []
    for number, line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if number == lines[-1][0]:
                console.print(f"[yellow]warning:[/] {path}: dropped the half-written last line {number} "
                              f"(a run stopped mid-write): {line[:60]!r}")
                continue
            raise ValueError(f"{path} line {number} is not JSON ({e}); delete or fix that line") from e
        if not (isinstance(row, dict) and "step" in row and isinstance(row["step"], int)):
            raise ValueError(f"{path} line {number} has no integer step: {line[:60]!r}; delete or fix that line")
        rows.append(row)
    return rows


def _plain(value):
    """Tensors and numpy scalars become floats; NaN and inf become strings JSON can hold."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def read_metrics(jsonl: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(jsonl).read_text().splitlines() if line.strip()]


def plot_loss(jsonl: str | Path, png: str | Path, panels: tuple[tuple[str, ...], ...] = (("loss", "val_loss"),)) -> Path:
    """Draw metrics against step, one panel per group of keys (e.g. a training loss and its held-out
    twin); keys without a finite value are skipped, and panels left empty are dropped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(jsonl)
    curves = [[(k, [(r["step"], r[k]) for r in rows if _finite(r.get(k))]) for k in keys] for keys in panels]
    curves = [[(k, points) for k, points in panel if points] for panel in curves]
    curves = [panel for panel in curves if panel] or [[]]  # nothing to draw yet: one empty panel
    fig, axes = plt.subplots(len(curves), 1, figsize=(6, 3.5 * len(curves)), dpi=120, squeeze=False)
    for ax, panel in zip(axes[:, 0], curves, strict=True):
        for key, points in panel:
            ax.plot([s for s, _ in points], [v for _, v in points], lw=1.2, marker="." if len(points) < 50 else None,
                    label=key)
        values = [v for _, points in panel for _, v in points]
        # log scale for a positive curve spanning more than a factor of 10 (a falling loss); a narrow range
        # (a few dB of PSNR, a loss late in a run) reads better on a linear axis
        ax.set_yscale("log" if values and min(values) > 0 and max(values) > 10 * min(values) else "linear")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if panel:
            ax.legend(fontsize=8)
    axes[0, 0].set_title(f"{panels[0][0]}: {Path(jsonl).parent.name}")
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png


def _finite(value) -> bool:
    """A number to draw: NaN and inf are logged as strings, missing keys as None."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def progress(metrics: bool = True, **kwargs) -> Progress:
    """A rich Progress; with `metrics`, loss and tokens/s columns (add tasks with `loss=nan, tok_s=0.0`)."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    if metrics:
        columns += [TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[tok_s]:,.0f} tok/s")]
    return Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), **kwargs)
