"""What a manifest holds: counts by size, aspect ratio, duration and frame rate, and a histogram.

Tables print with rich; the histogram PNG (matplotlib, Agg: no display needed) lands beside the
manifest as `NAME.stats.png`.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

# Named aspect ratios (height / width) a sample is labelled with when within 3% of one.
NAMED_ASPECTS = {"16:9": 9 / 16, "9:16": 16 / 9, "4:3": 3 / 4, "3:4": 4 / 3, "1:1": 1.0, "2:1": 0.5,
                 "1:2": 2.0, "3:2": 2 / 3, "2:3": 1.5, "21:9": 9 / 21}
DURATION_EDGES_S = [0.0, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]


def aspect_label(height: int, width: int) -> str:
    ratio = height / width
    name, value = min(NAMED_ASPECTS.items(), key=lambda kv: abs(math.log(kv[1] / ratio)))
    return name if abs(math.log(value / ratio)) < 0.03 else f"{ratio:.2f} (h/w)"


def duration_label(row: dict) -> str:
    if int(row.get("num_frames") or 1) <= 1:
        return "image"
    seconds = float(row.get("duration") or 0.0) or int(row["num_frames"]) / float(row.get("fps") or 1.0)
    for low, high in zip(DURATION_EDGES_S[:-1], DURATION_EDGES_S[1:], strict=True):
        if seconds < high:
            return f"{low:g}-{high:g} s"
    return f">= {DURATION_EDGES_S[-1]:g} s"


def summarise(rows: list[dict]) -> dict[str, Counter]:
    """{'size', 'aspect', 'duration', 'fps'} -> Counter of labels."""
    return {
        "size": Counter(f"{r['width']}x{r['height']}" for r in rows),
        "aspect": Counter(aspect_label(r["height"], r["width"]) for r in rows),
        "duration": Counter(duration_label(r) for r in rows),
        "fps": Counter("image" if int(r.get("num_frames") or 1) <= 1 else f"{float(r['fps']):g}" for r in rows),
    }


def print_stats(rows: list[dict], console: Console, top: int = 15) -> dict[str, Counter]:
    counts = summarise(rows)
    console.print(f"[bold]{len(rows)} samples[/] ({sum(int(r.get('num_frames') or 1) <= 1 for r in rows)} images)")
    for name, counter in counts.items():
        table = Table(title=f"by {name}")
        table.add_column(name)
        table.add_column("samples", justify="right")
        table.add_column("share", justify="right")
        for label, n in counter.most_common(top):
            table.add_row(label, str(n), f"{n / max(1, len(rows)):.1%}")
        if len(counter) > top:
            table.add_row(f"... {len(counter) - top} more", "", "")
        console.print(table)
    return counts


def stats_png_path(manifest: str | Path) -> Path:
    manifest = Path(manifest)
    return manifest.with_name(manifest.stem + ".stats.png")


def plot_histograms(rows: list[dict], out: str | Path) -> Path:
    """Four panels: short side, aspect ratio (h/w, log), duration (s), fps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    videos = [r for r in rows if int(r.get("num_frames") or 1) > 1]
    panels = [
        ("short side (px)", [min(r["height"], r["width"]) for r in rows], False),
        ("aspect ratio h/w", [r["height"] / r["width"] for r in rows], True),
        ("duration (s), videos", [float(r.get("duration") or r["num_frames"] / r["fps"]) for r in videos], False),
        ("fps, videos", [float(r["fps"]) for r in videos], False),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.5))
    for ax, (title, values, log_x) in zip(axes, panels, strict=True):
        if values:
            bins = 30
            if log_x:
                low, high = min(values), max(values)
                bins = [low * (high / low) ** (i / 30) for i in range(31)] if high > low else 10
                ax.set_xscale("log")
            ax.hist(values, bins=bins, color="#4477aa")
        ax.set_title(title)
        ax.set_ylabel("samples")
    fig.suptitle(f"{len(rows)} samples ({len(videos)} videos)")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
