"""CausalVAE: the video compression network (encode/decode, streaming, tiling, save/load).

Frame 0 is encoded alone, then groups of r_t frames: T' = 1 + (T - 1) / r_t, and an
image is a 1-frame video. `encode` returns the posterior mean normalised by the
per-channel `latent_mean` / `latent_std` buffers measured on training data.

Long videos stream in temporal chunks through an explicit `StreamCache`; big frames
run in blended spatial tiles. Both give the whole-video result (tiles: away from seams).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from patchflow.config import VAEConfig, from_dict, to_dict
from patchflow.models.vae.causal_conv import StreamCache, setup_causal_convs
from patchflow.models.vae.networks import Decoder, Encoder
from patchflow.models.vae.tiling import tiled_apply

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
CLASS_NAME = "PatchflowCausalVAE"  # config.json's `_class_name`, as diffusers folders name theirs


def _nearest(value: int, valid) -> str:
    """'a or b': the nearest valid sizes below and above `value`."""
    below = max((v for v in valid if v <= value), default=None)
    above = min(v for v in valid if v >= value)
    return " or ".join(str(v) for v in dict.fromkeys([below, above]) if v is not None and v > 0)


class CausalVAE(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        # normalisation of latents: set from training data at the end of VAE training
        self.register_buffer("latent_mean", torch.zeros(cfg.latent_channels))
        self.register_buffer("latent_std", torch.ones(cfg.latent_channels))
        setup_causal_convs(self, cfg.causal_padding)

    @property
    def temporal_factor(self) -> int:
        return self.cfg.temporal_factor

    @property
    def spatial_factor(self) -> int:
        return self.cfg.spatial_factor

    @property
    def latent_channels(self) -> int:
        return self.cfg.latent_channels

    # ------------------------------------------------------------------ shape checks

    def check_video(self, video: torch.Tensor) -> None:
        """Raise ValueError naming the problem (and the nearest valid size) for a bad video shape."""
        if video.ndim != 5:
            raise ValueError(f"expected a video (B, C, T, H, W), got shape {tuple(video.shape)}")
        _, c, t, h, w = video.shape
        r, s = self.temporal_factor, self.spatial_factor
        if c != self.cfg.in_channels:
            raise ValueError(f"expected {self.cfg.in_channels} channels, got {c} (shape {tuple(video.shape)})")
        if t < 1 or (t - 1) % r:
            raise ValueError(
                f"T = {t} frames does not fit the causal layout 1 + {r}k; nearest valid: "
                f"{_nearest(t, range(1, t + r + 1, r))} frames"
            )
        for name, size in (("H", h), ("W", w)):
            if size % s:
                raise ValueError(
                    f"{name} = {size} is not a multiple of the spatial factor {s}; nearest valid: "
                    f"{_nearest(size, range(0, size + s + 1, s))}"
                )

    def check_latent(self, z: torch.Tensor) -> None:
        if z.ndim != 5 or z.shape[1] != self.latent_channels:
            raise ValueError(f"expected latents (B, {self.latent_channels}, T', H', W'), got {tuple(z.shape)}")

    def _check_chunk(self, chunk_frames: int) -> None:
        if chunk_frames < self.temporal_factor or chunk_frames % self.temporal_factor:
            r = self.temporal_factor
            raise ValueError(
                f"chunk_frames = {chunk_frames} must be a positive multiple of temporal_factor {r}; "
                f"nearest valid: {_nearest(chunk_frames, range(r, chunk_frames + r + 1, r))}"
            )

    # ------------------------------------------------------------------ training path

    def encode_posterior(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (unnormalised) posterior mean and log-variance, each (B, C_lat, T', H', W')."""
        self.check_video(video)
        moments = self.encoder(video)  # (B, 2 C_lat, T', H', W')
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def forward(
        self, video: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction (unclamped), posterior mean, logvar)."""
        mean, logvar = self.encode_posterior(video)
        z = mean
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * noise
        return self.decoder(z), mean, logvar

    # ------------------------------------------------------------------ inference path

    def normalize(self, mean: torch.Tensor) -> torch.Tensor:
        c = self.latent_channels
        return (mean - self.latent_mean.view(1, c, 1, 1, 1)) / self.latent_std.view(1, c, 1, 1, 1)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        c = self.latent_channels
        return z * self.latent_std.view(1, c, 1, 1, 1) + self.latent_mean.view(1, c, 1, 1, 1)

    def _tile_px(self, tile: int | None, h: int, w: int) -> int:
        """Tile side in pixels (0 = no tiling). None = the config's tile_size when the frame exceeds it."""
        size = self.cfg.tile_size if tile is None else tile
        if size <= 0 or max(h, w) <= size:
            return 0
        return max(size // self.spatial_factor, 1) * self.spatial_factor

    def _overlap_px(self, tile_px: int) -> int:
        s = self.spatial_factor
        return min(self.cfg.tile_overlap // s * s, tile_px // 2 // s * s)

    def iter_encode(self, video: torch.Tensor, chunk_frames: int) -> Iterator[torch.Tensor]:
        """Raw posterior means, chunk by chunk: frames [0, 1 + n), then n at a time."""
        self._check_chunk(chunk_frames)
        cache = StreamCache()
        starts = [0, *range(1 + chunk_frames, video.shape[2], chunk_frames)]
        for i, t0 in enumerate(starts):
            t1 = starts[i + 1] if i + 1 < len(starts) else video.shape[2]
            yield self.encoder(video[:, :, t0:t1], cache).chunk(2, dim=1)[0]

    def iter_decode(self, mean: torch.Tensor, chunk_frames: int) -> Iterator[torch.Tensor]:
        """Frames from raw latents, chunk by chunk (chunk_frames / r_t latent frames each)."""
        self._check_chunk(chunk_frames)
        step = chunk_frames // self.temporal_factor
        cache = StreamCache()
        starts = [0, *range(1 + step, mean.shape[2], step)]
        for i, t0 in enumerate(starts):
            t1 = starts[i + 1] if i + 1 < len(starts) else mean.shape[2]
            yield self.decoder(mean[:, :, t0:t1], cache)

    def _encode_raw(self, video: torch.Tensor, chunk_frames: int | None) -> torch.Tensor:
        if chunk_frames is None or chunk_frames + 1 >= video.shape[2]:
            return self.encoder(video).chunk(2, dim=1)[0]
        return torch.cat(list(self.iter_encode(video, chunk_frames)), dim=2)

    def _decode_raw(self, mean: torch.Tensor, chunk_frames: int | None) -> torch.Tensor:
        if chunk_frames is None or chunk_frames // self.temporal_factor + 1 >= mean.shape[2]:
            return self.decoder(mean)
        return torch.cat(list(self.iter_decode(mean, chunk_frames)), dim=2)

    def encode(self, video: torch.Tensor, chunk_frames: int | None = None, tile: int | None = None) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> normalised latents (B, C_lat, 1 + (T-1)/r_t, H/s, W/s).

        chunk_frames: stream in chunks of this many frames (a multiple of r_t); None = all at once.
        tile: spatial tile side in pixels; None = the config's tile_size (only if the frame is larger),
        0 = never. Runs without gradients across chunks (the cache is detached).
        """
        self.check_video(video)
        tile_px = self._tile_px(tile, video.shape[3], video.shape[4])
        if tile_px:
            s = self.spatial_factor
            mean = tiled_apply(
                lambda x: self._encode_raw(x, chunk_frames), video, tile_px, self._overlap_px(tile_px), 1.0 / s
            )
        else:
            mean = self._encode_raw(video, chunk_frames)
        return self.normalize(mean)

    def decode(self, z: torch.Tensor, chunk_frames: int | None = None, tile: int | None = None) -> torch.Tensor:
        """Normalised latents (B, C_lat, T', H', W') -> video (B, 3, 1 + r_t (T'-1), s H', s W') in [-1, 1].

        chunk_frames / tile as in `encode` (tile in output pixels).
        """
        self.check_latent(z)
        mean = self.denormalize(z)
        s = self.spatial_factor
        tile_px = self._tile_px(tile, z.shape[3] * s, z.shape[4] * s)
        if tile_px:
            video = tiled_apply(
                lambda x: self._decode_raw(x, chunk_frames), mean, tile_px // s, self._overlap_px(tile_px) // s, s
            )
        else:
            video = self._decode_raw(mean, chunk_frames)
        return video.clamp(-1.0, 1.0)

    # ------------------------------------------------------------------ folders

    def save_pretrained(self, directory: str | Path) -> Path:
        """config.json (`_class_name` + the VAEConfig) + diffusion_pytorch_model.safetensors."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"_class_name": CLASS_NAME, **to_dict(self.cfg)}  # the name model_index.json gives this component
        (directory / CONFIG_NAME).write_text(json.dumps(meta, indent=2))
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(directory / WEIGHTS_NAME))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> CausalVAE:
        directory = Path(directory)
        saved = json.loads((directory / CONFIG_NAME).read_text())
        cfg = from_dict(VAEConfig, {k: v for k, v in saved.items() if not k.startswith("_")})  # drop `_class_name`
        model = cls(cfg)
        model.load_state_dict(load_file(str(directory / WEIGHTS_NAME), device=str(device)))
        return model.to(device).eval()
