"""What a training run hands out along the way: sample videos (the model folder: patchflow/model_index.py)."""

from __future__ import annotations

from pathlib import Path

from patchflow.config import Config


def sample_videos(cfg: Config, transformer, vae, text_encoder, out_dir: Path, step: int, console) -> list[Path]:
    """One video per `train.sample_prompts` entry with the EMA weights (skipped when no pipeline exists)."""
    try:
        from patchflow.pipeline import Pipeline
    except ImportError as e:
        console.print(f"[yellow]samples skipped at step {step}: the sampling pipeline is unavailable ({e})")
        return []
    from patchflow.media import write_video
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
