"""`patchflow vae ...`: train the video compression network."""

from __future__ import annotations

from pathlib import Path

import typer

from patchflow.commands.common import RecipeOpt, SetOpt, console, fail, load_config

app = typer.Typer(help="the causal video VAE", no_args_is_help=True)


@app.command("train")
def train_command(
    recipe: str = RecipeOpt,
    data: str = typer.Option("", "--data", help="manifest to train on; empty = data.manifest or the world"),
    overrides: list[str] = SetOpt,
    resume: bool = typer.Option(False, "--resume", help="continue from the latest checkpoint of this run"),
    stop_after: int = typer.Option(0, "--stop-after", help="leave after this many steps (checkpointed); 0 = run to the end"),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads; 0 = torch's default"),
) -> None:
    """Train the VAE of a recipe; the result goes to <train.out_dir>/vae."""
    import torch

    from patchflow.train.run_config import check_train_config
    from patchflow.train.vae_trainer import train_vae

    cfg = load_config(recipe, overrides)
    try:
        check_train_config(cfg, "vae")
    except ValueError as e:
        fail(str(e))
    if stop_after < 0:
        fail(f"--stop-after must be 0 (run to the end) or a number of steps, got {stop_after}")
    if threads:
        torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        summary = train_vae(cfg, manifest=data or None, resume=resume, stop_after=stop_after or None, device=device,
                            console=console)
    except FileNotFoundError as e:  # --resume with no checkpoint, a missing manifest or VAE folder
        fail(f"{e}" + (" (--resume needs a checkpoint in <train.out_dir>/vae_train)" if resume else ""))
    except ValueError as e:  # a damaged checkpoint, a forbidden override, a bad setting
        fail(str(e))
    losses = summary["losses"]
    if losses:
        console.print(f"steps {summary['steps']}: loss {losses[0]:.4f} -> {losses[-1]:.4f}")


VIDEO_OUT_EXTS = (".mp4", ".mkv")


@app.command("reconstruct")
def reconstruct_command(
    video: Path = typer.Argument(..., help="a video or image file"),
    model: Path = typer.Option(..., "--model", help="a VAE folder, or a model folder holding vae/"),
    out: Path = typer.Option(..., "--out", help="where the round trip goes: .mp4/.mkv for a video, .png for an image"),
    chunk_frames: int = typer.Option(0, "--chunk-frames", help="stream in chunks of this many frames; 0 = the VAE's"),
    device: str = typer.Option("cpu", "--device", help="where the VAE runs (cpu, cuda, ...)"),
) -> None:
    """Encode and decode VIDEO with a VAE: the reconstruction at the input's own size, its PSNR and SSIM,
    a JSON of the numbers beside it, and a contact sheet (input above, reconstruction below)."""
    import json

    import numpy as np

    from patchflow.eval.vae_reconstruct import reconstruct
    from patchflow.media import (
        IMAGE_EXTS,
        MediaError,
        contact_sheet,
        read_video,
        write_image,
        write_video,
    )
    from patchflow.models.vae import load_vae

    try:
        frames, fps = read_video(video)
    except MediaError as e:
        fail(str(e))
    suffix = out.suffix.lower()
    wanted = IMAGE_EXTS if len(frames) == 1 else VIDEO_OUT_EXTS
    if suffix not in wanted:
        kind = "an image" if len(frames) == 1 else f"a {len(frames)}-frame video"
        fail(f"--out {out}: {video} is {kind}; name the output with one of {', '.join(sorted(wanted))}")
    if out.is_dir():
        fail(f"--out {out} is a folder; give a file name")
    try:
        vae = load_vae(model, device=device).eval()
    except (FileNotFoundError, ValueError) as e:
        fail(f"--model {model}: {e}")
    if chunk_frames and chunk_frames % vae.temporal_factor:
        fail(f"--chunk-frames {chunk_frames} must be a multiple of the VAE's temporal factor {vae.temporal_factor}")
    chunk = chunk_frames or getattr(getattr(vae, "cfg", None), "chunk_frames", None)
    recon, metrics = reconstruct(vae, frames, chunk_frames=chunk, device=device)
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(frames) == 1:
        write_image(out, recon[0])
    else:
        write_video(out, recon, fps or 8.0)
    top, bottom = contact_sheet(frames), contact_sheet(recon)
    gap = np.full((4, top.shape[1], 3), 255, np.uint8)
    sheet = write_image(out.with_name(out.stem + "_sheet.png"), np.concatenate([top, gap, bottom]))
    report = {"input": str(video), "output": str(out), "model": str(model), "fps": fps, **metrics}
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out} (PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}), "
                  f"{out.with_suffix('.json')} and {sheet}")
