"""The demo: every mode of the bundled model, written to a folder with an index.html that shows them.

Each demo item is data (mode, prompt, size, frames, inputs). Inputs for the image and video modes are
rendered by the built-in world from a caption, written to `inputs/` as real files, read back and fed to
the same presets (`diffusion/frame_conditions.py`) and `Pipeline` call that `patchflow generate` uses.
Every output gets an mp4 (yuv420p, plays in browsers), a GIF, a contact sheet and its world-oracle score
for the prompt, which says whether the video shows what the prompt asks for.

Without a model folder the demo falls back to a gallery of world videos (`render_gallery`).
"""

from __future__ import annotations

import html
import math
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from patchflow.data import video_io
from patchflow.diffusion import frame_conditions as fc
from patchflow.world import complete, parse_caption, render_scene
from patchflow.world.oracle import score

FPS = 8


@dataclass(frozen=True)
class Media:
    """An input rendered by the world: `caption` at the item's size; frames 1 = an image (PNG)."""

    caption: str
    frames: int = 1


@dataclass(frozen=True)
class Item:
    """One demo sample. `frames`: the output length, or the new footage for extend and connect."""

    name: str
    mode: str
    prompt: str
    size: str = "64x64"
    frames: int = 17
    inputs: tuple[Media, ...] = ()
    strength: float | None = None


BLUE_BOX = Media("A blue box moves to the right. The background is black.", 17)
ITEMS = [
    Item("t2v", "text-to-video", "A red ball moves to the right. The background is navy."),
    Item("t2i", "text-to-image", "A large yellow square on black.", frames=1),
    Item("i2v", "image-to-video", "A red ball falls and bounces. The background is navy.",
         inputs=(Media("A red ball on navy."),)),
    Item("extend_forward", "extend forward", BLUE_BOX.caption, "80x48", 16, (BLUE_BOX,)),
    Item("extend_backward", "extend backward", BLUE_BOX.caption, "80x48", 9, (BLUE_BOX,)),
    Item("loop", "loop", "A green triangle bounces around. The background is gray.",
         inputs=(Media("A green triangle on gray."),)),
    Item("v2v", "video-to-video", "A yellow ball moves to the right. The background is navy.",
         inputs=(Media("A red ball moves to the right. The background is navy.", 17),), strength=0.6),
    Item("connect", "connect", "A small cyan ball moves to the right on black.", "80x48", 8,
         (Media("A small cyan ball moves to the right on black.", 9), Media("A magenta ball moves down on black.", 9))),
]


def plan(item: Item, media: list[np.ndarray], r_t: int, context: int) -> fc.Plan:
    """The preset for the item's mode, as `patchflow generate` picks it (media: uint8 (T, H, W, 3) each)."""
    if item.mode in ("text-to-video", "text-to-image"):
        return fc.text_to_video(item.frames, r_t)
    if item.mode == "image-to-video":
        return fc.image_to_video(media[0][0], item.frames, r_t)
    if item.mode == "loop":
        return fc.loop(media[0][0], item.frames, r_t)
    if item.mode == "extend forward":
        return fc.extend_forward(media[0], item.frames, r_t, context)
    if item.mode == "extend backward":
        return fc.extend_backward(media[0], item.frames, r_t, context)
    if item.mode == "video-to-video":
        return fc.sdedit(media[0], item.strength, r_t)
    if item.mode == "connect":
        return fc.connect(media[0], media[1], item.frames, r_t, context)
    raise ValueError(f"unknown demo mode {item.mode!r}")


@dataclass
class Result:
    item: Item
    output: str  # file name of the mp4 (or the PNG for one frame)
    num_frames: int
    seconds: float
    command: str
    inputs: list[str] = field(default_factory=list)  # file names under inputs/
    oracle: dict | None = None  # {"pass_rate", "passed", "judged", "facts"}


# ----------------------------------------------------------------------------- with a model


def run(out: Path, model: Path, steps: int | None = None, seed: int = 0, items: list[Item] | None = None,
        console: Console | None = None) -> list[Result]:
    """Generate every item (default: ITEMS) with the model folder; write media, sheets and index.html to `out`."""
    from patchflow.pipeline import Pipeline

    items = ITEMS if items is None else items
    console = console or Console(stderr=True)
    out = Path(out)
    (out / "inputs").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pipe = Pipeline.from_pretrained(model)
    console.print(f"loaded {model} in {time.perf_counter() - start:.1f} s")
    results = []
    for i, item in enumerate(items):
        t0 = time.perf_counter()
        result = generate(pipe, item, out, steps, seed, model)
        result.seconds = time.perf_counter() - t0
        results.append(result)
        rate = _rate(result.oracle)
        console.print(f"[{i + 1}/{len(items)}] [green]{item.mode:<16}[/] {item.size:>5} {result.num_frames:>3} frames "
                      f"{result.seconds:5.1f} s  oracle {rate}")
    total = time.perf_counter() - start
    steps_used = steps or pipe.config.sample.steps
    page = write_page(out, results, f"generated by {model} ({steps_used} steps, seed {seed}) in {total:.0f} s")
    console.print(f"total {total:.1f} s; open {page}")
    return results


def generate(pipe, item: Item, out: Path, steps: int | None, seed: int, model: Path) -> Result:
    """One item: render and write its inputs, read them back, plan, sample, assemble, write, score."""
    from patchflow.pipeline import to_uint8

    width, height = (int(v) for v in item.size.split("x"))
    files = [write_input(m, out / "inputs" / f"{item.name}_{k}", width, height, seed + k)
             for k, m in enumerate(item.inputs)]
    media = [video_io.read_video(f)[0] for f in files]  # as `patchflow generate` reads --image / --video
    p = plan(item, media, pipe.temporal_factor, pipe.config.sample.context_latents)
    result = pipe(item.prompt, height=height, width=width, num_frames=p.num_frames, fps=FPS,
                  num_inference_steps=steps, generator=seed, video=p.init, strength=p.strength,
                  conditions=p.conditions)
    frames = p.assemble(to_uint8(result.frames[0]))  # (T, H, W, 3) uint8
    output = write_output(frames, out / item.name)
    report = score(frames, parse_caption(item.prompt), FPS)
    oracle = {"pass_rate": report.pass_rate, "passed": sum(f.passed for f in report.facts),
              "judged": len(report.facts), "facts": [(f.name, f.passed, f.detail) for f in report.facts]}
    cmd = command_line(item, files, out / output.name, steps, seed, model)
    return Result(item, output.name, len(frames), 0.0, cmd, [f.name for f in files], oracle)


def write_input(media: Media, stem: Path, width: int, height: int, seed: int) -> Path:
    """Render a caption with the world simulator and write it as a PNG (one frame) or an mp4."""
    spec = complete(parse_caption(media.caption), seed=seed)
    frames, _truth = render_scene(spec, width, height, media.frames, FPS, seed=seed)
    if media.frames == 1:
        return video_io.write_image(stem.with_suffix(".png"), frames[0])
    return video_io.write_video(stem.with_suffix(".mp4"), frames, FPS, pix_fmt="yuv420p")


def write_output(frames: np.ndarray, stem: Path) -> Path:
    """mp4 + GIF for a video, PNG for one frame; a contact sheet either way. Returns the main file."""
    video_io.write_image(stem.with_name(stem.name + "_sheet.png"), video_io.contact_sheet(frames))
    if len(frames) == 1:
        return video_io.write_image(stem.with_suffix(".png"), frames[0])
    video_io.write_gif(stem.with_suffix(".gif"), frames, FPS)
    return video_io.write_video(stem.with_suffix(".mp4"), frames, FPS, pix_fmt="yuv420p")


MODE_FLAGS = {"extend forward": ["--extend", "forward"], "extend backward": ["--extend", "backward"],
              "loop": ["--loop"]}


def command_line(item: Item, inputs: list[Path], out: Path, steps: int | None, seed: int, model: Path) -> str:
    """The `patchflow generate` command that makes the same sample."""
    args = ["patchflow", "generate", "--prompt", item.prompt, "--size", item.size]
    if item.mode != "video-to-video":
        args += ["--frames", str(item.frames)]
    for f in inputs:
        args += ["--image" if f.suffix == ".png" else "--video", str(f)]
    args += MODE_FLAGS.get(item.mode, [])
    if item.strength is not None:
        args += ["--strength", f"{item.strength:g}"]
    if steps:
        args += ["--steps", str(steps)]
    args += ["--seed", str(seed), "--model", str(model), "--out", str(out)]
    return shlex.join(args + (["--sheet"] if out.suffix == ".png" else ["--gif", "--sheet"]))


# ----------------------------------------------------------------------------- the page


def write_page(out: Path, results: list[Result], note: str) -> Path:
    cards = "\n".join(_card(r) for r in results)
    page = Path(out) / "index.html"
    note += (". Inputs are rendered by the built-in world; the world oracle reads each output back and checks the "
             "facts its prompt states (colours, shapes, motion, background).")
    page.write_text(PAGE.format(title="patchflow: every mode of one model", note=html.escape(note), cards=cards))
    return page


def _rate(oracle: dict | None) -> str:
    if not oracle or math.isnan(oracle["pass_rate"]):
        return "n/a"
    return f"{oracle['pass_rate']:.0%} ({oracle['passed']}/{oracle['judged']})"


def _media(src: str, label: str) -> str:
    """A video (GIF as fallback) or an image, with a label under it."""
    if src.endswith(".mp4"):
        gif = html.escape(src[:-4] + ".gif")
        fallback = f'<img src="{gif}" alt="{html.escape(label)}">' if not src.startswith("inputs/") else ""
        tag = f'<video src="{html.escape(src)}" autoplay loop muted playsinline>{fallback}</video>'
    else:
        tag = f'<img src="{html.escape(src)}" alt="{html.escape(label)}">'
    return f'<figure>{tag}<figcaption>{html.escape(label)}</figcaption></figure>'


def _card(r: Result) -> str:
    item = r.item
    inputs = "".join(_media(f"inputs/{name}", f"input {k + 1}: {m.caption}")
                     for k, (name, m) in enumerate(zip(r.inputs, item.inputs, strict=True)))
    facts = "".join(f"<li class=\"{'ok' if ok else 'no'}\">{'✓' if ok else '✗'} {html.escape(name)}: "
                    f"{html.escape(detail)}</li>" for name, ok, detail in (r.oracle or {}).get("facts", []))
    stem = r.output.rsplit(".", 1)[0]
    return f"""<section class="card">
<h2>{html.escape(item.mode)} <small>{item.size}, {r.num_frames} frame{'s' if r.num_frames > 1 else ''},
 {r.seconds:.1f} s</small></h2>
<p class="prompt">{html.escape(item.prompt)}</p>
<details><summary>world oracle: <b>{_rate(r.oracle)}</b> of the prompt's facts seen</summary><ul>{facts}</ul></details>
<pre>{html.escape(r.command)}</pre>
<div class="row">{inputs}{_media(r.output, "output")}</div>
<img class="sheet{' one' if r.num_frames == 1 else ''}" src="{html.escape(stem)}_sheet.png" alt="frames of {html.escape(r.output)}">
</section>"""


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>patchflow demo</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem;
  background: #f4f4f6; color: #222; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 1.2rem;
  align-items: start; }}
.card, figure.world {{ background: white; padding: .8rem; border-radius: 6px; margin: 0; }}
h2 {{ font-size: 1.05rem; margin: 0 0 .3rem; }} h2 small {{ color: #777; font-weight: normal; }}
.prompt {{ font-style: italic; margin: .2rem 0 .5rem; }}
pre {{ background: #f0f0f3; font-size: .7rem; padding: .4rem; white-space: pre-wrap; word-break: break-all; }}
.row {{ display: flex; gap: .5rem; flex-wrap: wrap; align-items: flex-start; }}
.row figure {{ margin: 0; flex: 1 1 120px; max-width: 200px; }}
video, img {{ width: 100%; image-rendering: pixelated; background: #222; display: block; }}
figcaption {{ font-size: .75rem; margin-top: .3rem; }}
img.sheet {{ margin-top: .5rem; background: white; }}
img.sheet.one {{ width: 96px; }}
figure.world video {{ max-height: 280px; object-fit: contain; }}
details {{ font-size: .85rem; }} li.ok {{ color: #176d2a; }} li.no {{ color: #a11; }}
</style></head>
<body><h1>{title}</h1>
<p>{note}</p>
<main>
{cards}
</main></body></html>
"""


# ----------------------------------------------------------------------------- without a model

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
GALLERY_FRAMES, GALLERY_SEED = 33, 7


def render_gallery(out: Path, console: Console | None = None, gallery: list[tuple[str, str]] = GALLERY) -> Path:
    """World videos rendered from their captions (mp4, GIF, contact sheet) and an index.html."""
    console = console or Console(stderr=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cards = []
    for i, (caption, size) in enumerate(gallery):
        width, height = (int(v) for v in size.split("x"))
        spec = complete(parse_caption(caption), seed=GALLERY_SEED + i)
        frames, _truth = render_scene(spec, width, height, GALLERY_FRAMES, FPS, seed=GALLERY_SEED + i)
        name = f"world_{i:02d}"
        write_output(frames, out / name)
        cards.append(f'<figure class="world"><video src="{name}.mp4" autoplay loop muted playsinline>'
                     f'<img src="{name}.gif" alt="{html.escape(caption)}"></video>'
                     f'<figcaption><b>{size}</b> {html.escape(caption)}<br>'
                     f'<a href="{name}.gif">gif</a> · <a href="{name}_sheet.png">frames</a></figcaption></figure>')
        console.print(f"[green]{name}[/] {size}: {caption}")
    page = out / "index.html"
    note = "Each clip is rendered from its caption by the world simulator; unsaid facts come from a seed."
    page.write_text(PAGE.format(title="patchflow: the built-in world", note=note, cards="\n".join(cards)))
    console.print(f"gallery: {page}")
    return page
