"""`patchflow generate`: text, an image or videos in, an mp4 (or PNG) out, every mode of the pipeline.

    patchflow generate --prompt "a red ball bounces" --seconds 2 --out ball.mp4            text-to-video
    patchflow generate --prompt "..." --frames 1 --size 256x256 --out still.png            text-to-image
    patchflow generate --prompt "..." --image start.png --out i2v.mp4                      image-to-video
    patchflow generate --prompt "..." --video in.mp4 --extend forward --seconds 1          extension
    patchflow generate --prompt "..." --video a.mp4 --video b.mp4 --seconds 1              connect
    patchflow generate --prompt "..." --loop [--image start.png | --video in.mp4]          seamless loop
    patchflow generate --prompt "..." --video in.mp4 --strength 0.6                        video-to-video
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import typer

from patchflow.commands.common import console, fail
from patchflow.data import video_io
from patchflow.data.video_io import MediaError
from patchflow.pipeline import MODES, Mode, Pipeline, to_uint8

DEFAULT_MODEL = "models/world-tiny"


def _model_dir(model: str | None) -> Path:
    if model:
        path = Path(model)
        if not (path / "model_index.json").is_file():
            fail(f"{path} is not a model folder (no model_index.json); train one with 'patchflow train'")
        return path
    repo_root = Path(__file__).resolve().parents[2]
    for path in (Path(DEFAULT_MODEL), repo_root / DEFAULT_MODEL):
        if (path / "model_index.json").is_file():
            return path
    fail(f"no --model given and the bundled model folder {DEFAULT_MODEL} does not exist; "
         "pass --model DIR (a folder written by 'patchflow train' or Pipeline.save_pretrained)")


def _parse_size(size: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        fail(f"--size must look like WIDTHxHEIGHT (e.g. 64x64), got {size!r}")
    return w, h


def _read(path: str) -> tuple[np.ndarray, float]:
    if not Path(path).is_file():
        fail(f"no such file: {path}")
    try:
        return video_io.read_video(path)
    except MediaError as e:
        fail(str(e))


def _frame_count(frames: int | None, seconds: float, fps: float, r_t: int, mode: Mode) -> int:
    """What the mode counts: --frames as given (checked) or --seconds snapped to offset + r_t * k."""
    if mode.counts == "input":
        return 0  # video-to-video keeps the input's length
    offset, what = mode.offset, f"{mode.name} ({'new footage' if mode.counts == 'new' else 'output'})"
    form = f"1 + {r_t} * k" if offset else f"{r_t} * k"
    if frames is not None:
        if frames < max(offset, 1) or (frames - offset) % r_t:
            below = offset + max(0, (frames - offset) // r_t) * r_t
            near = sorted({n for n in (below, below + r_t) if n >= max(offset, 1)})
            fail(f"--frames {frames}: {what} needs {form} frames; nearest valid: {' or '.join(map(str, near))}")
        return frames
    k = max(0 if offset else 1, round((seconds * fps - offset) / r_t))
    return offset + r_t * k


def _modes_for(media: tuple[str, ...], flags: tuple[str, ...], strength: bool) -> list[Mode]:
    """The rows of the mode table that these inputs and switches choose: the inverse of each row's `media`
    and `flags`. An image may stand for a one-frame video where no mode takes an image (editing one). Rows
    that share inputs and switches (text-to-video, text-to-image) differ in their fixed frame count."""
    for wanted in (media, ("video",) * len(media)):
        rows = [m for m in MODES.values() if (m.media, m.flags, m.strength) == (wanted, flags, strength)]
        if rows:
            return rows
    usage = "; ".join(f"{m.name}: " + (" ".join([f"--{kind}" for kind in m.media] + list(m.flags)
                                                 + (["--strength S"] if m.strength else [])) or "no inputs")
                      for m in MODES.values())
    given = " ".join([f"--{kind}" for kind in media] + list(flags) + (["--strength"] if strength else []))
    fail(f"no mode takes {given}; the modes are {usage}")


def command(
    prompt: str = typer.Option("", "--prompt", help="what the video shows"),
    negative_prompt: str = typer.Option("", "--negative-prompt", help="what to steer away from"),
    size: str = typer.Option(None, "--size", help="WIDTHxHEIGHT; default: the input's, else the model's first size"),
    seconds: float = typer.Option(2.0, "--seconds", help="length (of the new footage, for extend and connect)"),
    frames: int = typer.Option(None, "--frames", help="frame count instead of --seconds; 1 = an image (PNG)"),
    fps: float = typer.Option(None, "--fps", help="default: the input's, else the model's"),
    steps: int = typer.Option(None, "--steps", help="denoising steps; default: the model's sample.steps"),
    guidance: float = typer.Option(None, "--guidance", help="classifier-free guidance scale; 1 = none"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(Path("outputs/generate.mp4"), "--out", help="mp4 (or png for one frame)"),
    model: str = typer.Option(None, "--model", help=f"model folder; default: {DEFAULT_MODEL}"),
    gif: bool = typer.Option(False, "--gif", help="also write a GIF beside the mp4"),
    sheet: bool = typer.Option(False, "--sheet", help="also write a contact sheet PNG"),
    image: str = typer.Option(None, "--image", help="first frame (image-to-video), or the loop's frame"),
    video: list[str] = typer.Option(None, "--video", help="input video; twice to connect A to B"),
    extend: str = typer.Option(None, "--extend", help="forward | backward"),
    loop: bool = typer.Option(False, "--loop", help="make a seamless loop"),
    strength: float = typer.Option(None, "--strength", help="video-to-video: 0 keeps the input, 1 ignores it"),
    window: int = typer.Option(None, "--window", help="latent frames per sliding window for long videos"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
) -> None:
    """Generate a video (or an image) from text, an image, or videos."""
    videos = list(video or [])
    if extend not in (None, "forward", "backward"):
        fail(f"--extend must be forward or backward, got {extend!r}")
    if len(videos) > 2:
        fail("--video takes one input (extend, loop, video-to-video) or two (connect)")
    if len(videos) == 2 and (extend or loop or strength is not None or image):
        fail("two --video inputs connect A to B; --extend, --loop, --strength and --image do not apply")
    if len(videos) == 1 and not (extend or loop or strength is not None):
        fail("with one --video choose what to do: --extend forward|backward, --loop or --strength S")
    if extend and not videos:
        fail("--extend needs an input --video (an image file works too)")
    if strength is not None and not (videos or image):
        fail("--strength needs an input --video or --image")
    if image and not Path(image).is_file():
        fail(f"no such file: {image}")

    # the mode table's key: the inputs and switches given (a loop without an input makes its frame from the
    # prompt, below)
    kinds = ("image",) * bool(image or (loop and not videos)) + ("video",) * len(videos)
    switches = (("--extend", extend) if extend else ()) + (("--loop",) if loop else ())
    candidates = _modes_for(kinds, switches, strength is not None)

    model_dir = _model_dir(model)
    inputs = [_read(v) for v in videos]
    image_frames = _read(image)[0][0] if image else None
    first_input = inputs[0] if inputs else None

    pipe = Pipeline.from_pretrained(model_dir)
    cfg, r_t = pipe.config, pipe.temporal_factor
    if window is not None:
        cfg.sample.window_latent_frames = window
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe.to(device)

    if size:
        width, height = _parse_size(size)
    elif first_input is not None:
        height, width = first_input[0].shape[1:3]
    elif image_frames is not None:
        height, width = image_frames.shape[:2]
    else:
        width, height = _parse_size(cfg.world.sizes[0])
    try:
        pipe.check_size(height, width)
    except ValueError as e:
        fail(f"{e} (pass --size)" if not size else str(e))
    fps = fps or (first_input[1] if first_input is not None and first_input[1] > 0 else cfg.data.fps)
    count = _frame_count(frames, seconds, fps, r_t, candidates[0])
    mode = next((m for m in candidates if m.frames == count), next(m for m in candidates if m.frames is None))

    settings = dict(negative_prompt=negative_prompt, height=height, width=width, num_inference_steps=steps,
                    guidance_scale=guidance, generator=seed)
    try:
        if mode.name == "loop" and image_frames is None:
            image_frames = to_uint8(pipe(prompt, mode="text-to-image", num_frames=1, **settings).frames[0][0])
        media = ([image_frames] if image_frames is not None else []) + [frames_ for frames_, _ in inputs]
        plan = pipe.plan_for(mode.name, media, count, height, width, strength)
    except ValueError as e:
        fail(str(e))
    label = mode.name if strength is None else f"{mode.name} (strength {strength:g})"
    console.print(f"[bold]{label}[/]: {plan.num_frames} frames {width}x{height} at {fps:g} fps from {model_dir}")
    try:
        result = pipe(prompt, fps=fps, plan=plan, **settings)
    except ValueError as e:
        fail(str(e))
    frames_out = to_uint8(result.frames[0])  # the whole output: the inputs kept by the mode and the new frames
    _write(frames_out, fps, out, gif, sheet)
    console.print(f"seed {result.seed}, {result.steps} steps, guidance {result.guidance_scale:g}, "
                  f"shift {result.shift:.2f}: {len(frames_out)} frames")


def _write(frames: np.ndarray, fps: float, out: Path, gif: bool, sheet: bool) -> None:
    """mp4 (H.264, yuv420p: plays in browsers) or PNG for a single frame, plus GIF and sheet on request."""
    if len(frames) == 1:
        png = out if out.suffix.lower() == ".png" else out.with_suffix(".png")
        video_io.write_image(png, frames[0])
        console.print(f"wrote {png}")
    else:
        mp4 = out if out.suffix.lower() == ".mp4" else out.with_suffix(".mp4")
        video_io.write_video(mp4, frames, fps, pix_fmt="yuv420p")
        console.print(f"wrote {mp4}")
        if gif:
            console.print(f"wrote {video_io.write_gif(mp4.with_suffix('.gif'), frames, fps)}")
    if sheet:
        path = out.with_name(out.stem + "_sheet.png")
        console.print(f"wrote {video_io.write_image(path, video_io.contact_sheet(frames))}")
