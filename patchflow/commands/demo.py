"""`patchflow demo`: a gallery of the built-in world, written to outputs/ with an index.html.

For now the videos are rendered by the world itself (the ground truth a model is
trained to reproduce); a later step makes the demo generate them with a model.
"""

from __future__ import annotations

import html
from pathlib import Path

import typer
from rich.console import Console

from patchflow.data.video_io import contact_sheet, write_gif, write_image, write_video
from patchflow.world import complete, parse_caption, render_scene

# (caption, size): every motion, shape, size, background and scene feature, in three aspects.
GALLERY = [
    ("A small red ball moves quickly to the right and bounces off the wall. The background is navy.", "96x54"),
    ("A large blue square stays still while a small yellow triangle bounces around. The background is black.",
     "64x64"),
    ("A big green disc falls and bounces on the floor. The backdrop is gray.", "54x96"),
    ("Two boxes slowly drift up on maroon.", "64x64"),
    ("A small cyan ball moves left and a small orange ball moves right; they collide. The background is black.",
     "96x54"),
    ("A magenta triangle slides to the right behind a pillar. The background is dark green.", "96x54"),
    ("A small white circle bounces off the walls, and the white circle leaves a trail of paint. "
     "The background is navy.", "64x64"),
    ("A large orange block rests while a small red ball bounces around. The camera pans to the left. "
     "The background is gray.", "96x54"),
    ("A game of pong: a white ball bounces between two paddles. The background is black.", "96x54"),
    ("A small yellow disc drops and bounces, and a large cyan box drifts down slowly. The backdrop is maroon.",
     "54x96"),
    ("A blue ball moves right and the blue ball paints a trail as it moves. A pillar stands in the foreground. "
     "The camera pans right. The background is dark green.", "96x54"),
    ("Three shapes bounce around on navy.", "64x64"),
]
FRAMES, FPS, SEED = 33, 8, 7


def command(out: Path = typer.Option(Path("outputs"), "--out", help="folder for the gallery")) -> None:
    """Render a gallery of world videos (mp4, GIF, contact sheet) and an index.html that shows them."""
    console = Console(stderr=True)
    out.mkdir(parents=True, exist_ok=True)
    cards = []
    for i, (caption, size) in enumerate(GALLERY):
        width, height = (int(v) for v in size.split("x"))
        spec = complete(parse_caption(caption), seed=SEED + i)
        frames, _truth = render_scene(spec, width, height, FRAMES, FPS, seed=SEED + i)
        name = f"world_{i:02d}"
        write_video(out / f"{name}.mp4", frames, FPS, pix_fmt="yuv420p")  # yuv420p: plays in browsers
        write_gif(out / f"{name}.gif", frames, FPS)
        write_image(out / f"{name}_sheet.png", contact_sheet(frames))
        cards.append(card(name, caption, size))
        console.print(f"[green]{name}[/] {size}: {caption}")
    page = out / "index.html"
    page.write_text(PAGE.format(cards="\n".join(cards)))
    console.print(f"gallery: {page}")


def card(name: str, caption: str, size: str) -> str:
    return (f'<figure><video src="{name}.mp4" poster="{name}.gif" autoplay loop muted playsinline></video>'
            f'<figcaption><b>{size}</b> {html.escape(caption)}<br>'
            f'<a href="{name}.gif">gif</a> · <a href="{name}_sheet.png">frames</a></figcaption></figure>')


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>patchflow demo</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; background: #f4f4f6; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 1.2rem; }}
figure {{ margin: 0; background: white; padding: .6rem; border-radius: 6px; }}
video {{ width: 100%; max-height: 260px; object-fit: contain; image-rendering: pixelated; background: #222; }}
figcaption {{ font-size: .85rem; margin-top: .4rem; }}
</style></head>
<body><h1>patchflow: the built-in world</h1>
<p>Each clip is rendered from its caption by the world simulator; unsaid facts come from a seed.</p>
<main>
{cards}
</main></body></html>
"""
