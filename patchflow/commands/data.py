"""`patchflow data scan DIR --out MANIFEST` and `patchflow data stats MANIFEST`.

Other data commands (encode, caption) live in modules of their own and join this group through
`GROUP_COMMANDS` in patchflow/cli.py.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from patchflow.commands.common import console, fail
from patchflow.data.manifest import ManifestError, manifest_format, read_manifest, rejected_path

app = typer.Typer(help="Scan folders of videos and images into manifests; inspect them.", no_args_is_help=True)


@app.command("scan")
def scan_command(
    directory: Path = typer.Argument(..., help="folder searched recursively for videos and images"),
    out: Path = typer.Option(..., "--out", help="manifest to write: .jsonl, .csv or .parquet"),
    captions: Path | None = typer.Option(None, "--captions", help="a (path,text) CSV/JSONL/Parquet of captions"),
) -> None:
    """Probe every video (mp4/mov/webm/mkv) and image (jpg/png/webp) under DIRECTORY into a manifest."""
    from patchflow.data.scan import scan

    if not directory.is_dir():
        fail(f"no such folder: {directory}")
    if captions is not None and not captions.is_file():
        fail(f"no such captions file: {captions}")
    try:
        manifest_format(out)
        with console.status("scanning") as status:
            result = scan(directory, out, captions, on_file=lambda p: status.update(f"scanning {p.name}"))
    except ManifestError as e:
        fail(str(e))
    console.print(
        f"[bold]{len(result.rows)}[/] samples -> {out} ({result.probed} probed, {result.reused} reused); "
        f"[bold]{len(result.rejected)}[/] rejected -> {rejected_path(out)}"
    )
    for row in result.rejected[:10]:
        console.print(f"  rejected {row['path']}: {row['reason']}")


@app.command("stats")
def stats_command(
    manifest: Path = typer.Argument(..., help="manifest (.jsonl, .csv or .parquet)"),
) -> None:
    """Counts by size, aspect ratio, duration and fps; a histogram PNG beside the manifest."""
    from patchflow.data.stats import plot_histograms, print_stats, stats_png_path

    try:
        rows = read_manifest(manifest)
    except ManifestError as e:
        fail(str(e))
    missing = [c for c in ("height", "width") if any(r.get(c) is None for r in rows)]
    if missing:
        fail(f"{manifest} has rows without {missing}; run `patchflow data scan` to probe the files")
    print_stats(rows, Console())
    png = plot_histograms(rows, stats_png_path(manifest))
    console.print(f"histograms -> {png}")
