"""`patchflow generate`: text, an image or videos in, an mp4, a GIF or a PNG out, every mode of the pipeline.

    patchflow generate --prompt "a red ball bounces" --seconds 2 --out ball.mp4            text-to-video
    patchflow generate --prompt "a red ball bounces" --seconds 2 --out ball.gif            the same as a GIF
    patchflow generate --prompt "..." --frames 1 --size 256x256 --out still.png            text-to-image
    patchflow generate --prompt "..." --image start.png --out i2v.mp4                      image-to-video
    patchflow generate --prompt "..." --video in.mp4 --extend forward --seconds 1          extension
    patchflow generate --prompt "..." --video a.mp4 --video b.mp4 --seconds 1              connect
    patchflow generate --prompt "..." --loop [--image start.png | --video in.mp4]          seamless loop
    patchflow generate --prompt "..." --video in.mp4 --strength 0.6                        video-to-video
    patchflow generate --prompt "a red ball" --expand-prompt                                a detailed caption first
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import torch
import typer

from patchflow import media as video_io
from patchflow.commands.common import console, fail
from patchflow.media import MediaError
from patchflow.model_folder_errors import ModelFolderError
from patchflow.pipeline import MODES, Mode, Pipeline, Plan, memory, to_uint8

DEFAULT_MODEL = "models/world-tiny"
VIDEO_SUFFIXES = (".mp4", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# A switch takes no value: without a metavar typer's help shows "<bool>" beside it, which reads as
# "--gif true", a form the parser refuses.
SWITCH = ""


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
    k = max(1, round((seconds * fps - offset) / r_t))  # --seconds asks for a video: one group at least
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


def _check_numbers(steps: int | None, seconds: float, frames: int | None, fps: float | None,
                   window: int | None) -> None:
    """The numeric options, before anything is loaded or computed."""
    if steps is not None and steps < 1:
        fail(f"--steps must be at least 1, got {steps} (leave it out for the model's sample.steps)")
    if frames is None and not (math.isfinite(seconds) and seconds > 0):
        fail(f"--seconds must be a positive length, got {seconds:g} (for an image pass --frames 1)")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        fail(f"--fps must be a positive number of frames per second, got {fps:g}")
    if window is not None and (window < 0 or window == 1):
        fail(f"--window is latent frames per sliding window: at least 2 (one of context, one new), or 0 for no "
             f"windows; got {window}")


def _device(name: str) -> str:
    """--device checked against this machine and this torch build, before the model is loaded."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        fail(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"a CPU-only build of torch {torch.__version__}" if torch.version.cuda is None else "no GPU visible"
            fail(f"--device {name}: CUDA is not available here ({build}); use --device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            fail(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to "
                 f"cuda:{torch.cuda.device_count() - 1}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        fail(f"--device {name}: MPS is not available here; use --device cpu (or auto)")
    elif device.type not in ("cpu", "cuda", "mps"):
        fail(f"--device {name}: patchflow generate runs on cpu, cuda or cuda:N")
    return str(device)


def _check_out(out: Path) -> None:
    """--out names a file of a kind we write, in a folder we can write in: checked before any compute."""
    if out.is_dir():
        fail(f"--out {out} is a folder; name a file in it, e.g. --out {out / 'generate.mp4'}")
    if out.suffix.lower() not in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
        fail(f"--out {out}: name an .mp4 or .gif (a video) or a .png (an image, --frames 1); "
             f"{out.suffix or 'no suffix'} is not written")
    existing = next(p for p in (out.parent, *out.parent.parents) if p.exists())  # the folder is made if missing
    if not existing.is_dir():
        fail(f"--out {out}: {existing} is a file, so no folder can be made there; choose another --out")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        fail(f"--out {out}: cannot write in {existing} ({e.strerror}); choose another --out")


def _output_file(out: Path, frames: int) -> Path:
    """The file to write for `frames` output frames: what --out names; a one-frame .mp4 becomes a PNG."""
    suffix = out.suffix.lower()
    if frames == 1:
        return out.with_suffix(".png") if suffix == ".mp4" else out
    if suffix in IMAGE_SUFFIXES:
        fail(f"--out {out}: this makes a video of {frames} frames; name an .mp4 or .gif (--frames 1 makes an image)")
    return out


def _note_resized(inputs: list[tuple[str, np.ndarray]], height: int, width: int) -> None:
    """One line per input whose size is not the output's: the mode crops its middle and scales it."""
    for name, frames in inputs:
        h, w = frames.shape[-3:-1]
        if (h, w) == (height, width):
            continue
        scale = min(h / height, w / width)
        crop_h, crop_w = round(height * scale), round(width * scale)
        if (crop_h, crop_w) == (h, w):
            how = "scaled to fit"
        elif (crop_h, crop_w) == (height, width):
            how = f"centre-cropped to {width}x{height}"
        else:
            how = f"centre-cropped to {crop_w}x{crop_h} and scaled to fit"
        console.print(f"note: {name} is {w}x{h}, the output {width}x{height}: it is {how}")


def _check_memory(pipe: Pipeline, plan: Plan, height: int, width: int, guidance: float, device: str) -> None:
    """Stop before sampling when the estimate (pipeline/memory.py) exceeds what the machine has free."""
    need = memory.estimate(pipe, plan.num_frames, height, width, plan.output_length, guidance)
    phases = {"sampling": need.sampling, "decoding": need.decoding, "output": need.output}
    free, ram = memory.available(device)
    if torch.device(device).type == "cuda":  # the model's phases on the GPU, the finished video in RAM
        groups = [(("sampling", "decoding"), free, f"{device} memory"), (("output",), ram, "RAM")]
    else:
        groups = [(tuple(phases), ram, "RAM")]
    levers = {"sampling": "fewer frames (--seconds/--frames), a smaller --size or a shorter --window",
              "decoding": "a smaller --size, fewer frames or VAE tiling (vae.tile_size in the model's config.json)",
              "output": "fewer frames or a smaller --size (the finished video itself must fit in RAM)"}
    for names, have, where in groups:
        worst = max(names, key=phases.get)
        if have and phases[worst] > have:  # have = 0: the OS did not say; then we do not guess
            fail(f"{width}x{height} with {plan.output_length} frames needs about {memory.human(phases[worst])} of "
                 f"{where} (sampling {memory.human(need.sampling)}, decoding {memory.human(need.decoding)}, output "
                 f"{memory.human(need.output)}) but {memory.human(have)} is free; use {levers[worst]}")


def command(
    prompt: str = typer.Option("", "--prompt", help="what the video shows"),
    negative_prompt: str = typer.Option("", "--negative-prompt", help="what to steer away from"),
    size: str = typer.Option(None, "--size", help="WIDTHxHEIGHT; default: the input's, else the model's first size"),
    seconds: float = typer.Option(2.0, "--seconds", help="length (of the new footage, for extend and connect)"),
    frames: int = typer.Option(None, "--frames", help="frame count instead of --seconds; 1 = an image (PNG)"),
    fps: float = typer.Option(None, "--fps", help="frames per second (> 0); default: the input's, else the model's"),
    steps: int = typer.Option(None, "--steps", help="denoising steps; default: the model's sample.steps"),
    guidance: float = typer.Option(None, "--guidance", help="classifier-free guidance scale; 1 = none"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(Path("outputs/generate.mp4"), "--out",
                             help="the file: .mp4 or .gif (a video), .png (one frame; a one-frame .mp4 becomes .png)"),
    model: str = typer.Option(None, "--model", help=f"model folder; default: {DEFAULT_MODEL}"),
    gif: bool = typer.Option(False, "--gif", metavar=SWITCH, help="a switch: also write a GIF beside the mp4"),
    sheet: bool = typer.Option(False, "--sheet", metavar=SWITCH, help="a switch: also write a contact sheet PNG"),
    image: str = typer.Option(None, "--image", metavar="PATH", help="first frame (image-to-video), or the loop's frame"),
    video: list[str] = typer.Option(None, "--video", metavar="PATH", help="input video; twice to connect A to B"),
    extend: str = typer.Option(None, "--extend", help="forward | backward"),
    loop: bool = typer.Option(False, "--loop", metavar=SWITCH, help="a switch: make a seamless loop"),
    strength: float = typer.Option(None, "--strength", help="video-to-video: 0 keeps the input, 1 ignores it"),
    window: int = typer.Option(None, "--window", help="latent frames per sliding window for long videos (at least 2; "
                               "0 = none); default: the model's"),
    guidance_interval: str = typer.Option(None, "--guidance-interval", metavar="LO,HI", help="guide only while "
                                          "LO <= t <= HI (1 = noise), e.g. 0.2,0.8; default: the model's"),
    guidance_model: str = typer.Option(None, "--guidance-model", metavar="PATH", help="autoguidance: a weaker DiT "
                                       "of the same shape (model folder, DiT folder or training checkpoint folder)"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    expand_prompt: bool = typer.Option(False, "--expand-prompt", metavar=SWITCH,
                                       help="a switch: rewrite the prompt as a detailed caption first (printed)"),
    expander: str = typer.Option(None, "--expander", help="world | openai | hf; default: the model's own (world)"),
    expander_model: str = typer.Option(None, "--expander-model", help="hf: a local causal LM folder; openai: the "
                                       "server's model name"),
    expander_url: str = typer.Option(None, "--expander-url", help="openai: the chat server's base URL, e.g. "
                                     "http://127.0.0.1:8000/v1"),
    expander_key_env: str = typer.Option(None, "--expander-api-key-env", help="openai: the environment variable "
                                         "holding the API key (the key itself is never printed)"),
    sequence_parallel: int = typer.Option(1, "--sequence-parallel", metavar="P", help="split the DiT's tokens over "
                                          "P processes (launch with torchrun --nproc_per_node P; docs/scale.md)"),
    offload: bool = typer.Option(False, "--offload", metavar=SWITCH, help="a switch: keep the text encoder and the "
                                 "VAE in RAM while the DiT samples (a small GPU)"),
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
    if not expand_prompt and (expander or expander_model or expander_url or expander_key_env):
        fail("--expander, --expander-model, --expander-url and --expander-api-key-env need --expand-prompt")

    # the mode table's key: the inputs and switches given (a loop without an input makes its frame from the
    # prompt, below)
    kinds = ("image",) * bool(image or (loop and not videos)) + ("video",) * len(videos)
    switches = (("--extend", extend) if extend else ()) + (("--loop",) if loop else ())
    candidates = _modes_for(kinds, switches, strength is not None)

    _check_numbers(steps, seconds, frames, fps, window)
    device = _device(device)
    group = _sampling_group(sequence_parallel, device)
    device = group.device  # under torchrun: this process's GPU
    _check_out(out)
    model_dir = _model_dir(model)
    inputs = [_read(v) for v in videos]
    image_frames = _read(image)[0][0] if image else None
    first_input = inputs[0] if inputs else None

    try:
        pipe = Pipeline.from_pretrained(model_dir)
    except (ModelFolderError, FileNotFoundError) as e:  # a damaged model folder, or its text encoder missing
        fail(str(e))
    cfg, r_t = pipe.config, pipe.temporal_factor
    if window is not None:
        cfg.sample.window_latent_frames = window
    _set_guidance(pipe, guidance_interval, guidance_model)
    pipe.to(device)
    group.apply(pipe)  # --sequence-parallel: the DiT splits its tokens; only rank 0 decodes
    if offload:
        memory.offload_idle(pipe, device)

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
    if fps is None:
        fps = first_input[1] if first_input is not None and first_input[1] > 0 else cfg.data.fps
    count = _frame_count(frames, seconds, fps, r_t, candidates[0])
    mode = next((m for m in candidates if m.frames == count), next(m for m in candidates if m.frames is None))
    _note_resized([(f"--image {image}", image_frames)] * (image_frames is not None)
                  + [(f"--video {v}", f) for v, (f, _) in zip(videos, inputs, strict=True)], height, width)

    if expand_prompt:
        prompt = _expanded(pipe, prompt, seed, expander, expander_model, expander_url, expander_key_env)
    settings = dict(negative_prompt=negative_prompt, height=height, width=width, num_inference_steps=steps,
                    guidance_scale=guidance, generator=seed)
    scale = cfg.sample.guidance if guidance is None else guidance
    try:
        # a loop without an input makes its frame from the prompt first: one image, a small fraction of the work
        if mode.name == "loop" and image_frames is None:
            image_frames = to_uint8(pipe(prompt, mode="text-to-image", num_frames=1, **settings).frames[0][0])
        media = ([image_frames] if image_frames is not None else []) + [frames_ for frames_, _ in inputs]
        plan = pipe.plan_for(mode.name, media, count, height, width, strength)
    except ValueError as e:
        fail(str(e))
    target = _output_file(out, plan.output_length)
    _check_memory(pipe, plan, height, width, scale, device)
    if not cfg.data.manifest:  # a model trained on the built-in world: say which words it has never seen
        from patchflow.world.parser import prompt_notices

        for notice in prompt_notices(prompt):
            console.print(f"[yellow]notice:[/] {notice}")
    label = mode.name if strength is None else f"{mode.name} (strength {strength:g})"
    console.print(f"[bold]{label}[/]: {plan.num_frames} frames {width}x{height} at {fps:g} fps from {model_dir}")
    try:
        result = pipe(prompt, fps=fps, plan=plan, **settings)
    except ValueError as e:
        fail(str(e))
    except (torch.OutOfMemoryError, MemoryError):
        fail(f"ran out of memory making {plan.output_length} frames at {width}x{height}; use fewer frames, a smaller "
             "--size or a shorter --window")
    frames_out = to_uint8(result.frames[0])  # the whole output: the inputs kept by the mode and the new frames
    if group.is_main:  # the other processes of a sequence-parallel run only helped sample
        _write(frames_out, fps, target, gif, sheet)
        console.print(f"seed {result.seed}, {result.steps} steps, guidance {result.guidance_scale:g}, "
                      f"shift {result.shift:.2f}: {len(frames_out)} frames")
    group.close()


def _sampling_group(size: int, device: str):
    """--sequence-parallel joined with torchrun's processes; the helpers print nothing (rank 0 speaks)."""
    from patchflow.parallel.sampling import start_sampling_group

    try:
        group = start_sampling_group(size, device)
    except ValueError as e:
        fail(str(e))
    console.quiet = not group.is_main
    return group


def _expanded(pipe: Pipeline, prompt: str, seed: int, name: str | None, model: str | None, url: str | None,
              key_env: str | None) -> str:
    """The prompt rewritten by the chosen expander, printed before any sampling starts."""
    from patchflow.text.chat_client import ChatBackendError

    options = {"world": {}, "hf": {"model": model}, "openai": {"base_url": url, "model_name": model,
                                                                "api_key_env": key_env}}.get(name or "", {})
    try:
        expanded = pipe.expand(prompt, seed, name or True, **options)[0]
    except (ValueError, FileNotFoundError, ChatBackendError) as e:  # unknown words, a missing folder, a bad reply
        fail(f"prompt expansion failed: {e}")
    console.print(f"[bold]expanded prompt:[/] {expanded}")
    return expanded


def _set_guidance(pipe: Pipeline, interval: str | None, guide: str | None) -> None:
    """--guidance-interval and --guidance-model into the model's sample settings; the guide is loaded here, so a
    wrong one fails before any sampling."""
    from patchflow.diffusion.guidance import check_interval

    if interval is not None:
        try:
            pipe.config.sample.guidance_interval = list(check_interval([float(v) for v in interval.split(",")]))
        except ValueError as e:
            fail(f"--guidance-interval {interval!r}: give LO,HI with 0 <= LO <= HI <= 1, e.g. 0.2,0.8 ({e})")
    if guide is not None:
        pipe.config.sample.guidance_model = guide
        try:
            pipe.guide_denoiser()
        except (ValueError, FileNotFoundError) as e:
            fail(f"--guidance-model: {e}")


def _write(frames: np.ndarray, fps: float, target: Path, gif: bool, sheet: bool) -> None:
    """The file --out asked for (mp4: H.264 yuv420p, plays in browsers; GIF; PNG for one frame), plus a GIF
    beside an mp4 and a contact sheet on request. Each is written under a temporary name and renamed."""
    suffix = target.suffix.lower()
    if suffix == ".gif":
        video_io.write_gif(target, frames, fps, max_side=0)  # the video at its own size (the --gif extra is enlarged)
    elif suffix == ".mp4":
        video_io.write_video(target, frames, fps, pix_fmt="yuv420p")
    else:
        video_io.write_image(target, frames[0])
    console.print(f"wrote {target}")
    if gif and suffix == ".mp4":
        console.print(f"wrote {video_io.write_gif(target.with_suffix('.gif'), frames, fps)}")
    if sheet:
        path = target.with_name(target.stem + "_sheet.png")
        console.print(f"wrote {video_io.write_image(path, video_io.contact_sheet(frames))}")
