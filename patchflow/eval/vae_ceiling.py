"""The VAE ceiling: the world's truth encoded and decoded by a VAE, then judged like any model's videos.

    vae = load_vae("models/world-tiny")                       # a model folder's vae/, or a VAE folder
    check_fits(prompts, vae.temporal_factor, vae.spatial_factor)
    generate = through_vae(truth_generator(), vae, vae.cfg.chunk_frames)
    run_world_bench(generate, 8, "runs/bench/ceiling", model="world-truth through models/world-tiny/vae")

A DiT makes latents and the VAE draws them, so no DiT on a VAE beats the truth's own latents drawn by that
VAE: what this run scores is the most a model on that VAE can score, and a model's gap to it is the DiT's.
The wrapper takes any object with `encode(video, chunk_frames=...)` and `decode(z, chunk_frames=...)` on
videos (B, 3, T, H, W) in [-1, 1]; both stream in chunks of `chunk_frames` so the 60 s samples stay in
bounded memory.
"""

from __future__ import annotations

import numpy as np
import torch

from patchflow.eval.world_bench import GenerateFn
from patchflow.eval.world_prompts import BenchPrompt
from patchflow.media import to_frames, to_tensor


def check_fits(prompts: list[BenchPrompt], temporal_factor: int, spatial_factor: int) -> None:
    """Raise ValueError naming the first prompt whose size or frame count the VAE cannot encode."""
    r, s = temporal_factor, spatial_factor
    for p in prompts:
        if p.width % s or p.height % s:
            raise ValueError(f"bench prompt {p.id} is {p.width}x{p.height}, not a multiple of the VAE's spatial "
                             f"factor {s}; the ceiling needs a VAE whose spatial factor divides every bench size "
                             f"(16 does), or --category to leave {p.category} out")
        if (p.num_frames - 1) % r:
            raise ValueError(f"bench prompt {p.id} has {p.num_frames} frames, not 1 + {r}k for the VAE's temporal "
                             f"factor {r}; the ceiling needs a temporal factor that divides 8, or --category to "
                             f"leave {p.category} out")


def through_vae(generate: GenerateFn, vae, chunk_frames: int | None, device: str = "cpu") -> GenerateFn:
    """`generate`'s videos after one round trip through `vae` (on `device`), as uint8 frames again."""

    @torch.inference_mode()
    def generate_through(prompt: str, width: int, height: int, num_frames: int, fps: float, seed: int) -> np.ndarray:
        frames = generate(prompt, width, height, num_frames, fps, seed)  # (T, H, W, 3) uint8
        video = to_tensor(frames)[None].to(device)  # (T, H, W, 3) -> (1, 3, T, H, W) in [-1, 1]
        z = vae.encode(video, chunk_frames=chunk_frames)  # (1, C_lat, T', H', W')
        recon = vae.decode(z, chunk_frames=chunk_frames)  # (1, 3, T, H, W)
        return to_frames(recon[0])  # (3, T, H, W) -> (T, H, W, 3) uint8

    return generate_through


__all__ = ["check_fits", "through_vae"]
