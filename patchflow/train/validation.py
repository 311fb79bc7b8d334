"""Held-out validation, logged beside the training loss: a number that moves smoothly between bench runs.

DiT (`heldout_latents` once at start, `dit_validation` every `train.val_every` steps and at the end):
  - Data: the first `train.val_samples` samples that `make_dataset` would render with the seed
    world.seed + HELDOUT_SEED_OFFSET (training's world is rendered with world.seed): the same sizes,
    lengths, scenes and caption grammar, never a training sample. Rendered in memory (no mp4 round
    trip), centre-cropped to sizes the VAE and the patch grid accept, encoded once with the run's VAE
    and text encoder (its detailed caption, not the short prompt). A run on a manifest or latent cache
    of other footage is still validated on these world scenes: held out, but not its own distribution.
  - Loss: the training loss (diffusion/flow_loss.py) at fixed times, two per band of t
    ([0, .25), [.25, .5), [.5, .75), [.75, 1]), with fixed noise, no text dropout and no frame
    condition (plain text-to-video), with the EMA weights. `val_loss_t{k}` is band k's mean and
    `val_loss` the mean over bands: uniform in t, unlike the training loss, whose times are
    logit-normal and shifted toward noise; follow val_loss over a run, do not compare its level with loss.
VAE (`heldout_vae_videos` once, `vae_validation`): held-out world videos (eval/vae_metrics.py), cut to
at most 17 frames of 64 x 64, reconstructed from the posterior mean with the EMA weights: `val_l1`,
`val_psnr` (mean over videos) and `val_psnr_min`.

Validation never draws from the run's random streams (Python, NumPy, torch: they are saved and put
back) and never touches its data loader, so switching it on leaves the training losses unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from patchflow.config import Config
from patchflow.diffusion.flow_loss import rectified_flow_loss
from patchflow.eval.vae_metrics import HELDOUT_SEED_OFFSET, heldout_world_videos, psnr, valid_size
from patchflow.train.rng import get_rng_state, set_rng_state

BANDS = 4  # bands of t: [0, .25), [.25, .5), [.5, .75), [.75, 1]
TIMES_PER_BAND = 2
# the midpoints of 8 equal slices of [0, 1]: two fixed times inside each band
VAL_TIMES = [(k + 0.5) / (BANDS * TIMES_PER_BAND) for k in range(BANDS * TIMES_PER_BAND)]
VAE_MAX_FRAMES, VAE_MAX_SIZE = 17, 64  # keeps the VAE's validation cheap


@contextmanager
def run_rng_untouched():
    """Whatever runs inside leaves the Python, NumPy and torch generators as it found them."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def _centre_crop(video: torch.Tensor, t: int, h: int, w: int) -> torch.Tensor:
    top, left = (video.shape[2] - h) // 2, (video.shape[3] - w) // 2
    return video[:, :t, top:top + h, left:left + w]  # (C, T, H, W) -> (C, t, h, w)


# ----------------------------------------------------------------------------- DiT


@dataclass
class HeldOutGroup:
    """Held-out samples of one latent shape with their fixed noise (one draw per validation time)."""

    latents: torch.Tensor  # (G, C, T', H', W')
    text: torch.Tensor  # (G, L, D)
    text_mask: torch.Tensor  # (G, L)
    noise: torch.Tensor  # (K, G, C, T', H', W'), K = len(VAL_TIMES)
    prompts: list[str]


def heldout_world_captioned(cfg: Config, n: int) -> list[tuple[torch.Tensor, str]]:
    """[(video (C, T, H, W) in [-1, 1], caption)]: what make_dataset renders first with the held-out seed."""
    from patchflow.media import to_tensor
    from patchflow.world.captions import make_caption, make_prompt
    from patchflow.world.make import draw_scene, parse_size, render_truthful

    w = cfg.world
    rng = random.Random(w.seed + HELDOUT_SEED_OFFSET)
    sizes = [parse_size(s) for s in w.sizes]
    samples = []
    for _ in range(n):  # the draws of make_dataset's sample_row, in its order, so one seed gives one set
        spec, width, height, frames = draw_scene(rng, sizes, [int(f) for f in w.frames], w.feature_prob, w.rung)
        pixels, _, _, _ = render_truthful(spec, width, height, frames, w.fps, rng)
        caption = make_caption(spec, rng)
        make_prompt(spec, rng)  # drawn (and unused) to keep the stream in step with make_dataset
        samples.append((to_tensor(pixels), caption))
    return samples


@torch.no_grad()
def heldout_latents(cfg: Config, vae, text_encoder, device: torch.device) -> list[HeldOutGroup]:
    """`train.val_samples` held-out world samples encoded by the run's VAE and text encoder, grouped by
    shape (each group is one batch), with noise drawn once from a generator of their own."""
    n = cfg.train.val_samples
    if n < 1:
        raise ValueError(f"train.val_samples must be at least 1 when train.val_every > 0, got {n}")
    spatial_multiple = vae.spatial_factor * max(cfg.dit.patch_size[1:])
    with run_rng_untouched():
        by_shape: dict[tuple[int, int, int], list[tuple[torch.Tensor, str]]] = {}
        for video, caption in heldout_world_captioned(cfg, n):
            size = valid_size(*video.shape[1:], vae.temporal_factor, spatial_multiple)
            by_shape.setdefault(size, []).append((_centre_crop(video, *size), caption))
        noise_gen = torch.Generator().manual_seed(cfg.train.seed + HELDOUT_SEED_OFFSET)  # CPU: same on any device
        groups = []
        for samples in by_shape.values():
            videos = torch.stack([v for v, _ in samples]).to(device)  # (G, 3, T, H, W)
            prompts = [c for _, c in samples]
            latents = vae.encode(videos).float()  # (G, 3, T, H, W) -> (G, C, T', H', W')
            text, text_mask = text_encoder(prompts)  # (G, L, D), (G, L)
            noise = torch.randn((len(VAL_TIMES), *latents.shape), generator=noise_gen)  # (K, G, C, T', H', W')
            groups.append(HeldOutGroup(latents, text.to(device), text_mask.to(device), noise.to(device), prompts))
    return groups


@torch.no_grad()
def dit_validation(model, groups: list[HeldOutGroup], patch_t: int, autocast: Callable,
                   prediction: str = "v") -> dict[str, float]:
    """{"val_loss", "val_loss_t0", ..., "val_loss_t3"}: mean flow-matching loss per band of t and over bands.

    model: a DiT holding the weights to judge; autocast: () -> the context its forward runs in; prediction:
    what it outputs (flow.prediction; every validation time is >= 0.0625, where both give the same v-loss scale).
    """
    band_sums = [0.0] * BANDS
    band_counts = [0] * BANDS
    with run_rng_untouched():
        for group in groups:  # one forward per group and band: its samples at the band's times
            size, frames = group.latents.shape[0], group.latents.shape[2]
            batch = size * TIMES_PER_BAND
            x0 = group.latents.repeat(TIMES_PER_BAND, 1, 1, 1, 1)  # (G, C, T', H', W') -> (P G, C, T', H', W')
            text = group.text.repeat(TIMES_PER_BAND, 1, 1)  # (G, L, D) -> (P G, L, D)
            text_mask = group.text_mask.repeat(TIMES_PER_BAND, 1)  # (G, L) -> (P G, L)
            grid = model.grid(x0.shape)
            no_condition = torch.zeros(batch, frames, dtype=torch.bool, device=x0.device)  # (P G, T') text-to-video
            for band in range(BANDS):
                ks = range(band * TIMES_PER_BAND, (band + 1) * TIMES_PER_BAND)
                eps = group.noise[ks.start:ks.stop].flatten(0, 1)  # (P, G, C, T', H', W') -> (P G, C, T', H', W')
                t = torch.tensor([VAL_TIMES[k] for k in ks], device=x0.device).repeat_interleave(size)  # (P G,)
                loss = rectified_flow_loss(model, x0, eps, t, no_condition, text, text_mask, grid, patch_t, autocast(),
                                           prediction)
                band_sums[band] += loss.item() * batch  # the batch's loss is its samples' mean: weight by its size
                band_counts[band] += batch
    bands = [s / c for s, c in zip(band_sums, band_counts, strict=True)]
    return {"val_loss": sum(bands) / BANDS, **{f"val_loss_t{k}": b for k, b in enumerate(bands)}}


# ----------------------------------------------------------------------------- VAE


def heldout_vae_videos(cfg: Config, device: str | torch.device) -> list[torch.Tensor]:
    """`vae_train.val_samples` held-out world videos (C, T, H, W), cut to at most 17 frames of 64 x 64."""
    n = cfg.vae_train.val_samples
    if n < 1:
        raise ValueError(f"vae_train.val_samples must be at least 1 when vae_train.val_every > 0, got {n}")
    tf, sf = cfg.vae.temporal_factor, cfg.vae.spatial_factor
    with run_rng_untouched():
        videos = heldout_world_videos(cfg, n, tf, sf)
    cut = []
    for video in videos:
        _, t, h, w = video.shape
        size = valid_size(min(t, VAE_MAX_FRAMES), min(h, VAE_MAX_SIZE), min(w, VAE_MAX_SIZE), tf, sf)
        cut.append(_centre_crop(video, *size).to(device))
    return cut


@torch.no_grad()
def vae_validation(vae, ema, videos: list[torch.Tensor]) -> dict[str, float]:
    """{"val_l1", "val_psnr", "val_psnr_min"} of the EMA weights' posterior-mean reconstructions."""
    was_training = vae.training
    l1s, psnrs = [], []
    with run_rng_untouched(), ema.swapped(vae):
        vae.eval()
        for video in videos:
            recon = vae.decode(vae.encode(video[None]))[0].float()  # (C, T, H, W); encode takes the mean
            l1s.append(float((recon - video).abs().mean()))
            psnrs.append(psnr(recon, video))
    vae.train(was_training)
    return {"val_l1": sum(l1s) / len(l1s), "val_psnr": sum(psnrs) / len(psnrs), "val_psnr_min": min(psnrs)}
