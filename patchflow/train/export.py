"""What a training run hands out: the model folder, and sample videos along the way."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from patchflow.config import Config
from patchflow.model_index import write_model_index


def write_model_folder(directory: str | Path, cfg: Config, transformer, vae) -> Path:
    """The diffusers-layout folder (docs/interfaces.md), written beside and renamed into place."""
    final = Path(directory)
    tmp = final.with_name(f".tmp-{final.name}")
    if tmp.exists():
        shutil.rmtree(tmp)
    write_model_index(tmp, cfg)
    vae.save_pretrained(tmp / "vae")
    transformer.save_pretrained(tmp / "transformer")
    if final.exists():
        old = final.with_name(f".old-{final.name}")
        os.replace(final, old)
        shutil.rmtree(old)
    os.replace(tmp, final)
    return final


def sample_videos(cfg: Config, transformer, vae, text_encoder, out_dir: Path, step: int, console) -> list[Path]:
    """One video per `train.sample_prompts` entry with the EMA weights (skipped when no pipeline exists)."""
    try:
        from patchflow.pipeline import Pipeline
    except ImportError as e:
        console.print(f"[yellow]samples skipped at step {step}: the sampling pipeline is unavailable ({e})")
        return []
    from patchflow.data.video_io import write_video
    from patchflow.pipeline import to_uint8

    if text_encoder is None:
        from patchflow.text import TextEncoder

        text_encoder = TextEncoder(cfg.text, device="cpu")
    device = next(vae.parameters()).device
    pipe = Pipeline(vae, transformer.to(device), text_encoder, cfg)
    pipe.progress = False
    tc = cfg.train
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, prompt in enumerate(tc.sample_prompts):
        out = pipe(prompt, height=tc.sample_height, width=tc.sample_width, num_frames=tc.sample_num_frames,
                   fps=cfg.data.fps, generator=tc.seed + i)
        path = out_dir / f"step{step:08d}_{i}.mp4"
        write_video(path, to_uint8(out.frames)[0], fps=cfg.data.fps, pix_fmt="yuv420p")
        paths.append(path)
    console.print(f"samples: {', '.join(str(p) for p in paths)}")
    return paths
