"""How well a VAE reconstructs: PSNR, SSIM, and encode/decode throughput on held-out samples.

Held-out samples are world videos rendered with a seed the training data never used
(when no manifest is named), at the world's sizes and frame counts, cropped to the
VAE's valid sizes (T = 1 + r_t k, H and W multiples of the spatial factor).
"""

from __future__ import annotations

import random
import time

import torch
import torch.nn.functional as F

from patchflow.config import Config

HELDOUT_SEED_OFFSET = 1_000_003  # held-out world seed = world.seed + this (training uses world.seed)


def psnr(recon: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of videos in [-1, 1], on the [0, 1] scale (peak 1)."""
    mse = ((recon - target) / 2).pow(2).mean().clamp_min(1e-12)
    return float(-10.0 * torch.log10(mse))


def ssim(recon: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004, Gaussian window) over frames and channels of (C, T, H, W) in [-1, 1]."""
    c, t, h, w = recon.shape
    if min(h, w) < window:  # tiny frames: the largest odd window that fits
        window = (min(h, w) - 1) // 2 * 2 + 1
    x = ((recon + 1) / 2).permute(1, 0, 2, 3).reshape(t * c, 1, h, w)  # (T C, 1, H, W)
    y = ((target + 1) / 2).permute(1, 0, 2, 3).reshape(t * c, 1, h, w)  # (T C, 1, H, W)
    coords = torch.arange(window, dtype=x.dtype) - window // 2
    g = torch.exp(-coords.pow(2) / (2 * sigma**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).view(1, 1, window, window)  # (1, 1, k, k)

    def blur(v):
        return F.conv2d(v, kernel)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x.pow(2)
    var_y = blur(y * y) - mu_y.pow(2)
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.pow(2) + mu_y.pow(2) + c1) * (var_x + var_y + c2))
    return float(s.mean())


def valid_size(t: int, h: int, w: int, temporal_factor: int, spatial_factor: int) -> tuple[int, int, int]:
    """The largest (T, H, W) <= the given one that the VAE accepts."""
    return 1 + (t - 1) // temporal_factor * temporal_factor, h // spatial_factor * spatial_factor, (
        w // spatial_factor * spatial_factor)


def _center_crop(video: torch.Tensor, t: int, h: int, w: int) -> torch.Tensor:
    top, left = (video.shape[2] - h) // 2, (video.shape[3] - w) // 2
    return video[:, :t, top: top + h, left: left + w]  # (C, T, H, W)


def heldout_world_videos(cfg: Config, n: int, temporal_factor: int, spatial_factor: int) -> list[torch.Tensor]:
    """n world videos (C, T, H, W) rendered with a seed training never saw, cycling sizes and lengths."""
    return [video for video, _ in heldout_world_samples(cfg, n, temporal_factor, spatial_factor)]


def heldout_world_samples(cfg: Config, n: int, temporal_factor: int, spatial_factor: int) -> list[tuple]:
    """Held-out world videos with the facts of their scenes: [(video (C, T, H, W), SceneFacts)]."""
    from patchflow.media import to_tensor
    from patchflow.world.make import parse_size
    from patchflow.world.oracle import facts_of
    from patchflow.world.render import render_scene
    from patchflow.world.scene import sample_scene

    rng = random.Random(cfg.world.seed + HELDOUT_SEED_OFFSET)
    videos = []
    for i in range(n):
        width, height = parse_size(cfg.world.sizes[i % len(cfg.world.sizes)])
        frames = cfg.world.frames[i % len(cfg.world.frames)]
        spec = sample_scene(rng, cfg.world.feature_prob)
        pixels, _ = render_scene(spec, width, height, frames, cfg.world.fps, rng.randrange(2**31))
        video = to_tensor(pixels)  # (C, T, H, W)
        cropped = _center_crop(video, *valid_size(frames, height, width, temporal_factor, spatial_factor))
        videos.append((cropped, facts_of(spec)))
    return videos


def manifest_videos(manifest: str, n: int, fps: float, temporal_factor: int, spatial_factor: int) -> list[torch.Tensor]:
    """The first n samples of a manifest at their own size, cut to the nearest valid size below."""
    from patchflow.data.decode import decode_clip
    from patchflow.data.manifest import read_manifest

    videos = []
    for row in read_manifest(manifest)[:n]:
        t, h, w = valid_size(int(row["num_frames"]), int(row["height"]), int(row["width"]),
                             temporal_factor, spatial_factor)
        videos.append(decode_clip(row["path"], t, fps, h, w))
    return videos


@torch.no_grad()
def evaluate_vae(vae, videos: list[torch.Tensor], chunk_frames: int | None = None, facts: list | None = None,
                 fps: float = 8.0) -> dict:
    """Mean PSNR / SSIM over the videos and frames per second of encode and of decode (batch 1).

    `psnr_first_frame` (frame 0, which the causal VAE encodes alone) beside `psnr_grouped_frames` (the
    frames it compresses r_t to a latent frame) says how much the temporal compression costs.

    With `facts` (one SceneFacts per world video) the world's oracle also judges each input and its
    reconstruction: `oracle_retained` is the share of facts passing on the input that still pass on the
    reconstruction (do colours, shapes and motions survive compression?).
    """
    psnrs, ssims, frames = [], [], 0
    first_psnrs, grouped_psnrs = [], []  # frame 0 (encoded alone) against the frames of 1 + r_t k groups
    kept = judged = 0
    t_enc = t_dec = 0.0
    for video in videos:
        x = video[None]  # (1, C, T, H, W)
        start = time.perf_counter()
        z = vae.encode(x, chunk_frames=chunk_frames)
        t_enc += time.perf_counter() - start
        start = time.perf_counter()
        recon = vae.decode(z, chunk_frames=chunk_frames)
        t_dec += time.perf_counter() - start
        psnrs.append(psnr(recon[0], video))
        first_psnrs.append(psnr(recon[0, :, :1], video[:, :1]))
        if video.shape[1] > 1:
            grouped_psnrs.append(psnr(recon[0, :, 1:], video[:, 1:]))
        ssims.append(ssim(recon[0], video))
        frames += video.shape[1]
        if facts is not None:
            k, j = _oracle_retained(video, recon[0], facts[len(psnrs) - 1], fps)
            kept, judged = kept + k, judged + j
    result = {
        "psnr": sum(psnrs) / len(psnrs), "ssim": sum(ssims) / len(ssims), "psnr_min": min(psnrs),
        "psnr_first_frame": sum(first_psnrs) / len(first_psnrs),
        "psnr_grouped_frames": sum(grouped_psnrs) / len(grouped_psnrs) if grouped_psnrs else None,
        "samples": len(videos), "frames": frames,
        "encode_fps": frames / max(t_enc, 1e-9), "decode_fps": frames / max(t_dec, 1e-9),
    }
    if facts is not None:
        result.update(oracle_retained=kept / max(judged, 1), oracle_facts=judged)
    return result


def _oracle_retained(video: torch.Tensor, recon: torch.Tensor, facts, fps: float) -> tuple[int, int]:
    """(facts passing on both input and reconstruction, facts passing on the input)."""
    from patchflow.media import to_frames
    from patchflow.world.oracle import score

    on_input = {f.name for f in score(to_frames(video), facts, fps).facts if f.passed}
    on_recon = {f.name for f in score(to_frames(recon), facts, fps).facts if f.passed}
    return len(on_input & on_recon), len(on_input)
