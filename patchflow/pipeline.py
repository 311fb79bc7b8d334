"""Pipeline: prompt + frame conditions -> video. One loop, numbered steps, every mode.

    pipe = Pipeline.from_pretrained("models/world-tiny")
    out = pipe("a red ball bounces", num_frames=17, image="start.png", generator=0)
    out.frames  # (B, F, H, W, C)

Modes are data, not classes: image-to-video is a `FrameCondition` at frame 0, extension and connecting
are conditions at the ends (presets in `diffusion/frame_conditions.py`), video-to-video is `video=` with
`strength=` (SDEdit). Videos longer than `sample.window_latent_frames` latent frames are made window by
window, each window a forward extension of the video so far, so the DiT's memory follows the window.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from patchflow.config import Config, from_dict, load
from patchflow.data import video_io
from patchflow.diffusion import frame_conditions as fc
from patchflow.diffusion.conditioning import tokens_t
from patchflow.diffusion.flow import shift_for_tokens
from patchflow.diffusion.guidance import cfg_model_fn
from patchflow.diffusion.samplers import get_sampler, timesteps


@dataclass
class PipelineOutput:
    frames: object  # np (B, F, H, W, C) float in [0, 1] | torch same | list of lists of PIL images
    prompt: list[str]
    negative_prompt: str
    height: int
    width: int
    num_frames: int
    fps: float
    seed: int
    steps: int
    guidance_scale: float
    sampler: str
    shift: float
    extra: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "frames"}


def _place(module) -> tuple[torch.device, torch.dtype]:
    p = next(module.parameters())
    return p.device, p.dtype


class Pipeline:
    def __init__(self, vae, transformer, text_encoder, config: Config):
        self.vae, self.transformer, self.text_encoder, self.config = vae, transformer, text_encoder, config
        self.progress = True  # rich bar over steps; tests and servers turn it off

    # ------------------------------------------------------------------------- folders

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> Pipeline:
        """Load a model folder (diffusers layout, docs/interfaces.md). Nothing is downloaded."""
        from patchflow.models.dit import DiT
        from patchflow.models.vae import load_vae
        from patchflow.text import TextEncoder

        path = Path(path)
        if not (path / "model_index.json").is_file():
            raise FileNotFoundError(f"{path} is not a patchflow model folder (no model_index.json)")
        cfg = load(path / "config.json")
        text_json = path / "text_encoder" / "config.json"
        if text_json.is_file():
            # the folder's text encoder entry wins (it may point at another local encoder folder)
            cfg.text = from_dict(type(cfg.text), {**asdict(cfg.text), **json.loads(text_json.read_text())})
        vae = load_vae(path).eval()
        transformer = DiT.from_pretrained(path / "transformer").eval()
        text_encoder = TextEncoder(cfg.text, device="cpu")
        return cls(vae, transformer, text_encoder, cfg).to(device)

    def save_pretrained(self, path: str | Path) -> Path:
        from patchflow.model_index import write_model_index

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_model_index(path, self.config)
        self.vae.save_pretrained(path / "vae")
        self.transformer.save_pretrained(path / "transformer")
        return path

    def to(self, device=None, dtype=None, *, vae=None, transformer=None, text_encoder=None) -> Pipeline:
        """Move components: `to("cuda")` moves all; `to(transformer="cuda")` keeps VAE and text on the CPU.

        `dtype` applies to the VAE and the DiT (the sampler's arithmetic stays float32).
        """
        for module, where in ((self.vae, vae), (self.transformer, transformer)):
            target = where or device
            if target is not None or dtype is not None:
                module.to(device=target, dtype=dtype)
        target = text_encoder or device
        if target is not None:
            self.text_encoder.to(target)
        return self

    # ------------------------------------------------------------------------- sizes

    @property
    def temporal_factor(self) -> int:
        return self.vae.temporal_factor

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this: VAE spatial factor x DiT patch size."""
        return self.vae.spatial_factor * max(self.config.dit.patch_size[1:])

    def check_size(self, height: int, width: int) -> None:
        m = self.size_multiple
        if height % m or width % m or height < m or width < m:
            near_w, near_h = max(m, round(width / m) * m), max(m, round(height / m) * m)
            raise ValueError(f"size {width}x{height} is not a multiple of {m} (VAE spatial factor x patch size); "
                             f"nearest valid size: {near_w}x{near_h}")

    def check_frames(self, num_frames: int) -> None:
        r = self.temporal_factor
        p_t = self.config.dit.patch_size[0]
        if not fc.is_valid_frame_count(num_frames, r) or fc.latent_frames(num_frames, r) % p_t:
            near = " or ".join(str(n) for n in fc.nearest_frame_counts(num_frames, r))
            raise ValueError(f"{num_frames} frames is not of the form 1 + {r} * k; nearest valid: {near}")

    # ------------------------------------------------------------------------- the loop

    @torch.no_grad()
    def __call__(
        self, prompt: str | list[str], negative_prompt: str | None = None, height: int = 64, width: int = 64,
        num_frames: int = 17, fps: float = 8.0, num_inference_steps: int | None = None,
        guidance_scale: float | None = None, generator: torch.Generator | int | None = None,
        image=None, last_image=None, video=None, strength: float | None = None,
        conditions: list[fc.FrameCondition] | None = None, output_type: str = "np",
        callback_on_step_end=None, latents: torch.Tensor | None = None,
    ) -> PipelineOutput:
        sample = self.config.sample
        steps = num_inference_steps or sample.steps
        scale = sample.guidance if guidance_scale is None else guidance_scale
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        negative = negative_prompt or ""
        generator, seed = _generator(generator)

        # 1. check inputs
        self.check_size(height, width)
        self.check_frames(num_frames)
        if output_type not in ("np", "pt", "pil", "latent"):
            raise ValueError(f"output_type must be np, pt, pil or latent, got {output_type!r}")
        if strength is not None and video is None and image is None:
            raise ValueError("strength= is for video-to-video (SDEdit): pass video= (or image=) with it")

        # 2. encode text
        text = self._encode_text(prompts)
        uncond = self._encode_text([negative]) if scale != 1.0 else None

        # 3. build conditions (presets turn image=, last_image=, video= into FrameConditions)
        conds, init = list(conditions or []), None
        if strength is not None:
            init = video if video is not None else image
        else:
            if image is not None:
                conds.insert(0, fc.FrameCondition(image=image, frame_index=0))
            if video is not None:
                conds.insert(0, fc.FrameCondition(video=video, frame_index=0))
        if last_image is not None:
            conds.append(fc.FrameCondition(image=last_image, frame_index=-1))

        window = sample.window_latent_frames
        args = dict(text=text, uncond=uncond, scale=scale, steps=steps, generator=generator,
                    height=height, width=width, callback=callback_on_step_end)
        if window and fc.latent_frames(num_frames, self.temporal_factor) > window and output_type != "latent":
            if init is not None:
                raise ValueError("video-to-video is limited to sample.window_latent_frames latent frames")
            frames, shift = self._generate_windows(conds, num_frames, window, len(prompts), args)
        else:
            z, shift = self._generate(conds, num_frames, len(prompts), init, strength, latents, args)
            if output_type == "latent":
                return self._output(z, prompts, negative, height, width, num_frames, fps, seed, steps, scale, shift)
            # 6. decode
            frames = self.decode(z)
        return self._output(_convert(frames, output_type), prompts, negative, height, width, num_frames, fps, seed,
                            steps, scale, shift)

    def _generate(self, conds, num_frames, batch, init, strength, latents, args) -> tuple[torch.Tensor, float]:
        """Steps 3-5 for one window: conditions -> latents -> denoised latents (B, C, T', H', W')."""
        height, width, generator = args["height"], args["width"], args["generator"]
        device = _place(self.transformer)[0]
        shape = (batch, self.vae.latent_channels, fc.latent_frames(num_frames, self.temporal_factor),
                 height // self.vae.spatial_factor, width // self.vae.spatial_factor)
        x_cond, strength_per_frame = fc.encode_conditions(
            conds, self._encode_pixels, num_frames, height, width, self.temporal_factor, shape, device)
        if x_cond is not None:
            x_cond = x_cond.expand(batch, -1, -1, -1, -1)  # (1, C, T', H', W') -> (B, C, T', H', W')
            strength_per_frame = strength_per_frame.expand(batch, -1)  # (1, T') -> (B, T')

        # 4. prepare latents: noise from a CPU generator, so a seed gives the same video on any device
        noise = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
        grid = self.transformer.grid(shape)
        n_tokens = grid[0] * grid[1] * grid[2]
        shift = self.config.sample.shift if self.config.sample.shift > 0 else shift_for_tokens(n_tokens, self.config.flow)
        start = 1.0 if init is None else float(strength)
        ts = timesteps(args["steps"], shift, start=start)
        if latents is not None:
            x = latents.to(device=device, dtype=torch.float32)
        elif init is not None:
            clean = self._encode_pixels(fc.to_video_tensor(init, height, width)[None]).to(device)
            x = (1.0 - start) * clean.expand(batch, -1, -1, -1, -1) + start * noise
        else:
            x = noise

        # 5. denoise
        model_fn = cfg_model_fn(self._denoiser, args["scale"], args["text"], args["uncond"])
        with self._bar(len(ts) - 1) as advance:
            def on_step(info):
                advance()
                if args["callback"] is not None:
                    out = args["callback"](self, info["i"], info["t"], {"latents": info["x"]})
                    return out.get("latents") if isinstance(out, dict) else None
                return None

            sampler = get_sampler(self.config.sample.sampler)
            z = sampler(model_fn, x, ts, strength_per_frame, x_cond, callback=on_step, noise=noise)
        return z, shift

    def _generate_windows(self, conds, num_frames, window, batch, args):
        """Long videos: the first window, then forward extensions whose context is the video so far."""
        r = self.temporal_factor
        if batch != 1:
            raise ValueError("sliding-window generation makes one video at a time")
        context_latents = max(1, min(self.config.sample.context_latents, window - 1))
        first = 1 + r * (window - 1)
        for c in conds:
            if c.frame_index < 0 or c.frame_index >= first:
                raise ValueError("with sliding windows only conditions inside the first window are supported")
        z, shift = self._generate(conds, first, 1, None, None, None, args)
        parts = [self._decode_frames(z)]  # uint8 (T, H, W, 3) per window: memory follows the window
        made = first
        while made < num_frames:
            new = min(num_frames - made, r * (window - context_latents))
            video = np.concatenate(parts)[-(1 + r * (context_latents - 1)):]
            plan = fc.extend_forward(video, new, r, context_latents)
            z, _ = self._generate(plan.conditions, plan.num_frames, 1, None, None, None, args)
            parts.append(self._decode_frames(z)[plan.keep])
            made += new
        return np.concatenate(parts)[None], shift  # (1, F, H, W, 3) uint8

    # ------------------------------------------------------------------------- parts

    def _encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        device, dtype = _place(self.transformer)
        emb, mask = self.text_encoder(prompts)
        return emb.to(device=device, dtype=dtype), mask.to(device)

    def _encode_pixels(self, video: torch.Tensor) -> torch.Tensor:
        """(1, 3, T, H, W) in [-1, 1] -> float32 latents on the DiT's device."""
        device, dtype = _place(self.vae)
        z = self.vae.encode(video.to(device=device, dtype=dtype), chunk_frames=self.config.vae.chunk_frames)
        return z.float().to(_place(self.transformer)[0])

    def _denoiser(self, x, t, frame_mask, text, text_mask):
        """The DiT as the sampler sees it: conditioned frames' tokens carry t = 0."""
        device, dtype = _place(self.transformer)
        grid = self.transformer.grid(x.shape)
        t_tokens = tokens_t(t, frame_mask, grid, self.config.dit.patch_size[0])  # (B,) -> (B, N)
        v = self.transformer(x.to(dtype), t_tokens.to(dtype), text, text_mask)
        return v.float()

    def decode(self, z: torch.Tensor) -> np.ndarray:
        """(B, C, T', H', W') latents -> uint8 (B, F, H, W, 3), chunked in time, tiled in space if large."""
        return np.stack([self._decode_frames(z[i:i + 1]) for i in range(z.shape[0])])

    def _decode_frames(self, z: torch.Tensor) -> np.ndarray:
        device, dtype = _place(self.vae)
        vae_cfg = self.config.vae
        height, width = z.shape[-2] * self.vae.spatial_factor, z.shape[-1] * self.vae.spatial_factor
        # the VAE tiles by its config; a config that never tiles still tiles big stills (text-to-image at 2048)
        tile = None if vae_cfg.tile_size else (256 if max(height, width) > 512 else 0)
        video = self.vae.decode(z.to(device=device, dtype=dtype), chunk_frames=vae_cfg.chunk_frames, tile=tile)
        return video_io.to_frames(video[0])  # (3, T, H, W) -> (T, H, W, 3) uint8

    def _bar(self, total: int):
        return _StepBar(total, self.progress)

    def _output(self, frames, prompts, negative, height, width, num_frames, fps, seed, steps, scale, shift):
        return PipelineOutput(frames, prompts, negative, height, width, num_frames, fps, seed, steps, scale,
                              self.config.sample.sampler, float(shift))


class _StepBar:
    """Rich progress over denoising steps; a context manager that yields `advance()`."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.bar = total, enabled, None

    def __enter__(self):
        if not self.enabled or self.total == 0:
            return lambda: None
        console = Console(stderr=True)
        self.bar = Progress(TextColumn("denoising"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console, transient=True, disable=not console.is_terminal)
        self.bar.start()
        task = self.bar.add_task("steps", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def _generator(generator) -> tuple[torch.Generator, int]:
    """int seed | Generator | None -> (CPU generator, seed for the metadata)."""
    if isinstance(generator, torch.Generator):
        return generator, generator.initial_seed()
    seed = int(generator) if generator is not None else int(torch.seed() % (2**31))
    return torch.Generator("cpu").manual_seed(seed), seed


def _convert(frames: np.ndarray, output_type: str):
    """uint8 (B, F, H, W, 3) -> the requested output type (np / pt: float in [0, 1], same layout)."""
    if output_type == "pil":
        return [[Image.fromarray(f) for f in video] for video in frames]
    as_float = frames.astype(np.float32) / 255.0
    return torch.from_numpy(as_float) if output_type == "pt" else as_float


def to_uint8(frames) -> np.ndarray:
    """Pipeline frames (np / pt in [0, 1]) -> uint8, exactly undoing `_convert`."""
    arr = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    return np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
