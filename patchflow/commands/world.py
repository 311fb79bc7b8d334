"""`patchflow world ...`: render the built-in world (a data set or one captioned scene) and score videos."""

from __future__ import annotations

import json
import random
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from patchflow.commands.common import fail

app = typer.Typer(help="the built-in world: make data sets, render a caption, score a video", no_args_is_help=True)
stdout = Console()


def parse_int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"{what} must be comma-separated whole numbers, got {text!r}")
    if not values:
        fail(f"{what} is empty")
    return values


@app.command()
def make(
    out: Path = typer.Option(..., "--out", help="folder to write media/, truth/ and manifest.jsonl into"),
    n: int = typer.Option(..., "--n", help="number of samples"),
    sizes: str = typer.Option("64x64,96x54,54x96", "--sizes", help="comma-separated WxH sizes"),
    frames: str = typer.Option("1,17,33", "--frames", help="comma-separated frame counts (1 = image)"),
    fps: float = typer.Option(8.0, "--fps"),
    seed: int = typer.Option(0, "--seed"),
    feature_prob: float = typer.Option(0.15, "--feature-prob", help="chance of each scene feature"),
) -> None:
    """Render a captioned data set of the world (mp4 / png, truth JSON, manifest.jsonl)."""
    from patchflow.world.make import make_dataset

    frame_counts = parse_int_list(frames, "--frames")
    try:
        manifest = make_dataset(out, n, [s for s in sizes.split(",") if s.strip()], frame_counts, fps, seed,
                                feature_prob)
    except ValueError as e:
        fail(str(e))
    stdout.print(f"wrote {n} samples; manifest: {manifest}")


@app.command()
def render(
    caption: str = typer.Option(..., "--caption", help="what to show, in the world's words"),
    size: str = typer.Option("64x64", "--size", help="WxH"),
    frames: int = typer.Option(33, "--frames", help="number of frames (1 = image)"),
    fps: float = typer.Option(8.0, "--fps"),
    seed: int = typer.Option(0, "--seed", help="decides everything the caption leaves unsaid"),
    out: Path = typer.Option(..., "--out", help="output file: .mp4, .gif or .png (png needs --frames 1)"),
) -> None:
    """Render one scene from a caption; unsaid facts are drawn from the seed."""
    from patchflow.commands.common import console
    from patchflow.media import write_gif, write_image, write_video
    from patchflow.world import complete, make_caption, render_scene
    from patchflow.world.make import parse_size
    from patchflow.world.parser import CaptionParseError, parse_caption_with_notices

    suffix = out.suffix.lower()
    if suffix not in (".mp4", ".gif", ".png"):
        fail(f"--out must end in .mp4, .gif or .png, got {out.name!r}")
    if frames < 1 or fps <= 0:
        fail(f"need --frames >= 1 and --fps > 0, got {frames} and {fps}")
    if suffix == ".png" and frames != 1:
        fail(f"a png holds one frame; use --frames 1 or an .mp4/.gif output (got --frames {frames})")
    try:
        width, height = parse_size(size)
        parsed = parse_caption_with_notices(caption)
        if parsed.outside:  # a word the world lacks ("purple"): no scene shows it, so ask for one that can
            fail(f"{'; '.join(parsed.outside)}; say one of those in {caption!r}")
        for notice in parsed.notices:  # a world word out of place ("a white background"): left to the seed
            console.print(f"[yellow]notice:[/] {notice}")
        spec = complete(parsed.facts, seed)
        video, _truth = render_scene(spec, width, height, frames, fps, seed)
    except CaptionParseError as e:
        fail(str(e))
    except ValueError as e:
        fail(f"cannot render {caption!r}: {e}")
    if suffix == ".png":
        write_image(out, video[0])
    elif suffix == ".gif":
        write_gif(out, video, fps)
    else:
        write_video(out, video, fps)
    stdout.print(f"wrote {out} ({width}x{height}, {frames} frames): {make_caption(spec, random.Random(seed))}")


@app.command()
def score(
    video: Path = typer.Argument(..., help="a video or image to check"),
    caption: str = typer.Option(..., "--caption", help="the caption the video should show"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Check a video against a caption with the world's oracle: one line per stated fact."""
    from patchflow.media import MediaError
    from patchflow.world.parser import CaptionParseError

    try:
        from patchflow.world.oracle import score_video
    except ImportError as e:
        fail(f"the world oracle is not available: {e}")
    if not video.exists():
        fail(f"no such video: {video}")
    try:
        report = score_video(video, caption)
    except (CaptionParseError, MediaError) as e:
        fail(str(e))
    except ValueError as e:
        fail(f"cannot score {video}: {e}")
    if as_json:
        stdout.print_json(json.dumps(report.to_dict()))
        return
    table = Table(title=f"{video.name}: {report.pass_rate:.0%} of facts hold")
    for column in ("fact", "ok", "detail"):
        table.add_column(column)
    for fact in report.facts:
        name, passed, detail = fact.name, fact.passed, fact.detail
        table.add_row(name, "[green]yes[/]" if passed else "[red]no[/]", str(detail))
    stdout.print(table)
