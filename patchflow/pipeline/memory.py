"""How much memory a generation needs, estimated before sampling, so that a request the machine cannot hold
stops at once with the estimate, the limit and the levers, instead of swapping or being killed hours in.

    need = estimate(pipe, num_frames, height, width, output_frames, guidance_scale)   # bytes, by phase
    have = available(device)                                                          # bytes free now

The formula (bytes; f = the DiT's and the VAE's element size, 4 for float32; B = 2 with guidance, else 1):

    latent frames   T' = 1 + (F - 1) / r_t; a window holds T'_w = min(T', sample.window_latent_frames) of them
    tokens          N  = T'_w / p_t * (H / s / p_h) * (W / s / p_w)
    sampling        B * N * (12 D f + 8 heads L)     one DiT block's live activations: the residual, norms, qkv,
                                                     q and k after RoPE, attention out, MLP hidden (r D) and its
                                                     GELU; plus cross-attention scores over the L text tokens
                  + B * heads * N^2 * 8              only for the "math" attention backend (scores + softmax);
                                                     sdpa and flex stream over key blocks
                  + 10 * B * C * T'_w * H/s * W/s * 4  the sampler's latents of a window: x, noise, conditions,
                                                     velocities
    decoding        6 * c * F_chunk * h_t * w_t * f  the VAE decoder's widest full-resolution activations of one
                                                     chunk of frames (vae.chunk_frames) in one spatial tile
                  + 36 * F_w * H * W                 the decoded float video of a window: the concatenated chunks,
                                                     the clamp and to_frames' temporaries
                  + 3 * F * H * W                    the uint8 frames made so far
    output (host)   42 * F_out * H * W               the whole output as uint8, its float32 copy that the
                                                     pipeline returns and to_uint8's float temporaries

    every phase    + 150 MB                          workspaces of a first large call (allocator pools, conv
                                                     kernels' buffers), measured

The phases run one after another, so the need is the largest of them (on a GPU: sampling and decoding
against GPU memory, the output against RAM). The model's weights are already loaded and not counted. Measured
peak RSS growth of world-tiny on a CPU (2 steps, guidance 4) against this estimate: 64x64x33 244 MB / 262 MB,
64x64x129 (windows) 288 / 263, 128x128x17 372 / 589, 256x256x33 1.5 GB / 1.9 GB, 512x256x17 2.8 GB / 3.7 GB;
sampling alone (output_type="latent") 256x256x33 303 / 386 MB, 512x512x9 457 / 465 MB.

Levers for a small GPU: `offload_idle(pipe, device)` keeps the text encoder and the VAE in RAM and moves each
onto the device only while it runs, so the DiT samples with their weights off the device; the decoder tiles
frames larger than 512 pixels on a side by itself (Pipeline._decode_frames) when vae.tile_size is 0.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from patchflow.diffusion import frame_conditions as fc

WORKSPACE = 150_000_000  # bytes every phase adds on its first large call (measured; see above)


@dataclass
class Estimate:
    sampling: int  # bytes: the DiT's activations and the sampler's latents, on the model's device
    decoding: int  # bytes: the VAE decoder's working set and the decoded frames, on the model's device
    output: int  # bytes: the finished video in RAM

    def on_device(self) -> int:
        return max(self.sampling, self.decoding)

    def total(self) -> int:
        """The need when everything runs in RAM (CPU): the largest phase."""
        return max(self.sampling, self.decoding, self.output)


def estimate(pipe, num_frames: int, height: int, width: int, output_frames: int, guidance_scale: float,
             text_tokens: int | None = None) -> Estimate:
    """Bytes a generation of `num_frames` generated frames (`output_frames` in the assembled output) needs."""
    cfg = pipe.config
    dit, vae_cfg, r_t, s = cfg.dit, cfg.vae, pipe.temporal_factor, pipe.vae.spatial_factor
    element = next(pipe.transformer.parameters()).element_size()
    batch = 1 if guidance_scale == 1.0 else 2
    text_tokens = text_tokens or cfg.text.max_length
    latent_frames = fc.latent_frames(num_frames, r_t)
    window = cfg.sample.window_latent_frames
    window_latents = min(latent_frames, window) if window else latent_frames
    window_frames = min(num_frames, 1 + r_t * (window_latents - 1))
    p_t, p_h, p_w = dit.patch_size
    tokens = -(-window_latents // p_t) * (height // s // p_h) * (width // s // p_w)

    per_token = 12 * dit.width * element + 8 * dit.heads * text_tokens
    attention = dit.heads * tokens * tokens * 8 if dit.attention == "math" else 0
    latents = 10 * batch * vae_cfg.latent_channels * window_latents * (height // s) * (width // s) * 4
    sampling = batch * (tokens * per_token + attention) + latents + WORKSPACE

    widths = [vae_cfg.base_width * m for m in vae_cfg.width_mults]
    full_res_channels = max(widths[:2])
    tile = _decode_tile(vae_cfg.tile_size, height, width)
    tile_h, tile_w = (min(tile, height), min(tile, width)) if tile else (height, width)
    chunk = min(window_frames, vae_cfg.chunk_frames + 1) if vae_cfg.chunk_frames else window_frames
    decoder = 6 * full_res_channels * chunk * tile_h * tile_w * element
    decoding = decoder + 36 * window_frames * height * width + 3 * num_frames * height * width + WORKSPACE
    return Estimate(sampling, decoding, 42 * output_frames * height * width + WORKSPACE)


def _decode_tile(tile_size: int, height: int, width: int) -> int:
    """The spatial tile the pipeline decodes in (Pipeline._decode_frames), 0 = the whole frame."""
    side = max(height, width)
    if tile_size:
        return tile_size if side > tile_size else 0
    return 256 if side > 512 else 0


def available(device: str | torch.device) -> tuple[int, int]:
    """(bytes free on `device`, bytes of RAM available): torch.cuda.mem_get_info on CUDA, the OS's
    MemAvailable (psutil when installed, else /proc/meminfo) for RAM. RAM is 0 where it cannot be read."""
    ram = _ram_available()
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free), ram
    return ram, ram


def _ram_available() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB -> bytes
    return 0


def human(n: float) -> str:
    """Bytes as a person reads them: 512 B, 3.2 MB, 6.7 TB."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


# ----------------------------------------------------------------------------- offloading


def offload_idle(pipe, device: str | torch.device) -> None:
    """Keep the text encoder and the VAE in RAM; each moves onto `device` only for its own calls (encoding the
    prompts, encoding conditions, decoding), so the DiT has the device to itself while it samples.

    Call it after `pipe.to(device)`. Costs one weight copy each way per call: worth it on a small GPU only.
    """
    device = torch.device(device)
    vae = pipe.vae.to("cpu")
    for name in ("encode", "decode"):
        setattr(vae, name, _on_device_while_running(vae, getattr(vae, name), device))
    if not isinstance(pipe.text_encoder, OffloadedTextEncoder):
        pipe.text_encoder = OffloadedTextEncoder(pipe.text_encoder.to("cpu"), device)


def _on_device_while_running(module: torch.nn.Module, fn, device: torch.device):
    """`fn(x, ...)` of `module` run on `device`: the module moves there for the call and back to RAM after."""

    @functools.wraps(fn)
    def run(x: torch.Tensor, *args, **kwargs):
        module.to(device)
        try:
            return fn(x.to(device), *args, **kwargs)
        finally:
            module.to("cpu")

    return run


class OffloadedTextEncoder:
    """A text encoder kept in RAM that encodes on `device` (its outputs are left there)."""

    def __init__(self, encoder, device: torch.device):
        self.encoder, self.run_on = encoder, torch.device(device)

    def __call__(self, texts: list[str]):
        self.encoder.to(self.run_on)
        try:
            return self.encoder(texts)
        finally:
            self.encoder.to("cpu")

    def to(self, device) -> OffloadedTextEncoder:
        """Pipeline.to moves the encoder: from now on it runs there (and still rests in RAM)."""
        self.run_on = torch.device(device)
        return self

    def __getattr__(self, name: str):
        return getattr(self.encoder, name)  # cfg, dim, tokenizer, ... of the encoder itself
