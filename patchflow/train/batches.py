"""Where the trainer's latents come from: encoded on the fly, or read from a latent cache.

Both sources yield the same batches, `{"latents": (B, C, T', H', W'), "text": (B, L, D), "text_mask": (B, L),
"prompts": list[str], "bucket": str}`, both resume from `state_dict()`, and both know the embedding
of the empty prompt (`empty_text()`), which text dropout swaps in for the prompts it drops.
"""

from __future__ import annotations

from pathlib import Path

import torch

from patchflow.config import Config


def data_rows(cfg: Config, data: str | None = None, is_main: bool = True) -> list[dict]:
    """Manifest rows: `data`, else cfg.data.manifest, else the built-in world rendered into the cache.

    The one way both trainers find their rows. Under several processes only the main one renders
    the world; the others wait at the barrier (a no-op in a single process) and then reuse it.
    """
    from patchflow.data.manifest import read_manifest
    from patchflow.parallel.mesh import barrier

    manifest = data or cfg.data.manifest
    if not manifest:
        from patchflow.world.source import ensure_world_manifest

        if is_main:  # render once, on one process; the others wait and then reuse it
            ensure_world_manifest(cfg)
        barrier()
        manifest = ensure_world_manifest(cfg)
    return read_manifest(manifest)


def build_vae(cfg: Config, device: torch.device):
    """cfg.train.vae_path, else cfg.vae (a pretrained folder, or a fresh VAE seeded by train.seed)."""
    from patchflow.models.vae import build_vae as build_from_cfg
    from patchflow.models.vae import load_vae

    if cfg.train.vae_path:
        vae = load_vae(cfg.train.vae_path, device=str(device))
    else:
        with torch.random.fork_rng(devices=[]):  # a fresh VAE must not shift the run's random stream
            torch.manual_seed(cfg.train.seed)
            vae = build_from_cfg(cfg.vae, device=str(device))
    return vae.eval().requires_grad_(False)


class OnTheFlyBatches:
    """Decode videos with the data loader, encode them with the (frozen) VAE and the text encoder."""

    def __init__(self, cfg: Config, rows: list[dict], vae, text_encoder, device: torch.device, rank: int, world: int):
        from patchflow.data.loader import build_loader

        self.vae, self.text_encoder, self.device = vae, text_encoder, device
        spatial_multiple = vae.spatial_factor * max(cfg.dit.patch_size[1:])
        self.loader = build_loader(cfg.data, rows, vae.temporal_factor, spatial_multiple, rank, world, cfg.train.seed)
        self._iter = None
        self._empty = None

    def empty_text(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._empty is None:
            self._empty = self.text_encoder([""])  # (1, L, D), (1, L)
        return self._empty

    @torch.no_grad()
    def __next__(self) -> dict:
        if self._iter is None:
            self._iter = iter(self.loader)
        batch = next(self._iter)
        latents = self.vae.encode(batch["video"].to(self.device))  # (B, 3, T, H, W) -> (B, C, T', H', W')
        text, text_mask = self.text_encoder(batch["text"])
        return {"latents": latents.float(), "text": text.to(self.device), "text_mask": text_mask.to(self.device),
                "prompts": list(batch["text"]), "bucket": batch["bucket"]}

    def state_dict(self) -> dict:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.loader.load_state_dict(state)
        self._iter = None  # the next batch comes from the restored position


def build_batches(cfg: Config, data: str | None, device: torch.device, rank: int, world: int, is_main: bool):
    """The batch source a run uses: the latent cache when cfg.data.latents names one, else on the fly."""
    if cfg.data.latents:
        from patchflow.data.latent_cache import CachedLatents

        return CachedLatents(Path(cfg.data.latents), device, rank, world, cfg.train.seed, cfg.data.image_ratio)
    from patchflow.text import TextEncoder

    vae = build_vae(cfg, device)
    text_encoder = TextEncoder(cfg.text, device=device)
    return OnTheFlyBatches(cfg, data_rows(cfg, data, is_main), vae, text_encoder, device, rank, world)
