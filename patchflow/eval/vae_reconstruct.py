"""One video or image through a VAE and back, at its own size, with the PSNR it keeps.

The VAE takes T = 1 + r_t k frames and sides that are multiples of its spatial factor. Rather than cut
the user's footage to fit, the input is padded (the last frame repeated, the right and bottom edges
copied) up to the next valid size, and the reconstruction is cropped back: every input frame and pixel
comes back, and the metrics are taken on exactly those.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from patchflow.eval.vae_metrics import psnr, ssim
from patchflow.media import to_frames, to_tensor


def padded_size(t: int, h: int, w: int, temporal_factor: int, spatial_factor: int) -> tuple[int, int, int]:
    """The smallest (T, H, W) >= the given one that the VAE accepts."""
    def up(n: int, m: int) -> int:
        return -(-n // m) * m

    return 1 + up(t - 1, temporal_factor), up(h, spatial_factor), up(w, spatial_factor)


@torch.no_grad()
def reconstruct(vae, frames: np.ndarray, chunk_frames: int | None = None,
                device: str | torch.device = "cpu") -> tuple[np.ndarray, dict]:
    """(T, H, W, 3) uint8 -> (its reconstruction, same shape and dtype; {"psnr", "ssim", ...})."""
    t, h, w, _ = frames.shape
    tp, hp, wp = padded_size(t, h, w, vae.temporal_factor, vae.spatial_factor)
    video = to_tensor(frames)  # (C, T, H, W) in [-1, 1]
    # (1, C, Tp, Hp, Wp): right and bottom edges and the last frame copied
    video = F.pad(video[None], (0, wp - w, 0, hp - h, 0, tp - t), mode="replicate")
    video = video.to(device)
    latents = vae.encode(video, chunk_frames=chunk_frames)
    recon = vae.decode(latents, chunk_frames=chunk_frames)[0, :, :t, :h, :w].float().cpu()  # (C, T, H, W)
    # metrics on the quantised output, as a viewer of the written file sees it
    out = to_frames(recon)  # (T, H, W, 3) uint8
    target, got = to_tensor(frames), to_tensor(out)
    metrics = {
        "psnr": psnr(got, target), "ssim": ssim(got, target), "frames": t, "height": h, "width": w,
        "latent_shape": list(latents.shape[1:]), "padded_to": [tp, hp, wp],
    }
    return out, metrics


__all__ = ["reconstruct", "padded_size"]
