"""Pipeline: prompt + mode -> video. One loop, numbered steps, every mode.

    pipe = Pipeline.from_pretrained("models/world-tiny")
    out = pipe("a red ball bounces", num_frames=17, image="start.png", generator=0)
    out = pipe("a red ball bounces", mode="extend forward", media=[frames], num_frames=16, generator=0)
    out.frames  # (B, F, H, W, C): the whole output, the mode's inputs included

Modes are data, not classes: a mode's preset (`modes.py`) makes a `Plan` of conditions (frames held clean,
placed on latent frames by `diffusion/frame_conditions.py`), and the plan says how the output is put together
from the generated frames and the inputs. Keywords (`image=`, `last_image=`, `video=` with or without
`strength=`, `conditions=`) make a plan too. Videos longer than `sample.window_latent_frames` latent frames
are made window by window, each window a forward extension of the video so far, so the DiT's memory follows
the window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from patchflow import media as video_io
from patchflow.config import Config
from patchflow.diffusion import frame_conditions as fc
from patchflow.diffusion.conditioning import latent_t, tokens_t
from patchflow.diffusion.flow import model_velocity, shift_for_tokens
from patchflow.diffusion.guidance import cfg_model_fn, load_guide_transformer
from patchflow.diffusion.samplers import get_sampler, timesteps
from patchflow.pipeline import modes
from patchflow.pipeline.modes import Plan
from patchflow.pipeline.output import PipelineOutput, StepBar, convert, cpu_generator


def _device_and_dtype(module) -> tuple[torch.device, torch.dtype]:
    p = next(module.parameters())
    return p.device, p.dtype


class Pipeline:
    def __init__(self, vae, transformer, text_encoder, config: Config):
        self.vae, self.transformer, self.text_encoder, self.config = vae, transformer, text_encoder, config
        self.progress = True  # rich bar over steps; tests and servers turn it off
        self._guide = None  # (path, DiT) of sample.guidance_model (autoguidance), loaded on first use

    # ------------------------------------------------------------------------- folders

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> Pipeline:
        """Load a model folder (diffusers layout, docs/interfaces.md). Nothing is downloaded.

        A missing or damaged file (cut-short weights, broken JSON, a missing subfolder) raises
        `ModelFolderError` naming the file, before any weight is loaded where it can be seen from the layout.
        """
        from patchflow.model_index import read_model_config
        from patchflow.models.dit import DiT
        from patchflow.models.vae import load_vae
        from patchflow.text import TextEncoder

        path = Path(path)
        cfg = read_model_config(path)
        vae = load_vae(path).eval()
        transformer = DiT.from_pretrained(path / "transformer").eval()
        text_encoder = TextEncoder(cfg.text, device="cpu")
        return cls(vae, transformer, text_encoder, cfg).to(device)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write the model folder (written beside and renamed into place: patchflow/model_index.py)."""
        from patchflow.model_index import write_model_folder

        return write_model_folder(path, self.config, self.transformer, self.vae)

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

    # ------------------------------------------------------------------------- plans

    def plan_for(self, mode: str, media: list[np.ndarray], num_frames: int, height: int, width: int,
                 strength: float | None = None) -> Plan:
        """The plan of a mode (`modes.MODES`) for this model. `media`: the mode's inputs as uint8 frames
        (T, H, W, 3) or images (H, W, 3); its videos are resized to the output, which holds them."""
        frames = [np.asarray(m) if np.ndim(m) == 4 else np.asarray(m)[None] for m in media]  # (H, W, 3) -> (1, H, W, 3)
        kinds = modes.get_mode(mode).media
        if len(kinds) == len(frames):  # else modes.plan_for says which inputs the mode takes
            # images only condition, and conditions resize themselves; videos become frames of the output
            frames = [f if kind == "image" else fc.resize_frames(f, height, width)
                      for f, kind in zip(frames, kinds, strict=True)]
        return modes.plan_for(mode, frames, num_frames, self.temporal_factor, self.config.sample.context_latents,
                              strength)

    def _plan(self, plan, mode, media, num_frames, height, width, image, last_image, video, strength,
              conditions) -> Plan:
        """The plan as given (`plan=`), made by a mode's preset (`mode=`), or made of the keywords."""
        if mode is not None and plan is not None:
            raise ValueError("pass mode= (the pipeline makes the plan) or plan= (a plan you made), not both")
        if media is not None and mode is None:
            raise ValueError("media= holds a mode's inputs: pass mode= with it")
        if mode is not None or plan is not None:
            keywords = {"image": image, "last_image": last_image, "video": video, "conditions": conditions,
                        "strength": strength if plan is not None else None}
            given = [name for name, value in keywords.items() if value is not None]
            if given:
                raise ValueError(f"{given[0]}= does not combine with mode= or plan=: the mode's preset makes the "
                                 "conditions (pass its inputs as media=)")
            return plan if plan is not None else self.plan_for(mode, media or [], num_frames, height, width, strength)
        if strength is not None and video is None and image is None:
            raise ValueError("strength= is for video-to-video (SDEdit): pass video= (or image=) with it")
        conds = list(conditions or [])
        if strength is None:  # image= and video= are conditions from frame 0; with strength= SDEdit starts from them
            if image is not None:
                conds.insert(0, fc.FrameCondition(image=image, frame_index=0))
            if video is not None:
                conds.insert(0, fc.FrameCondition(video=video, frame_index=0))
        if last_image is not None:
            conds.append(fc.FrameCondition(image=last_image, frame_index=-1))
        init = None if strength is None else (video if video is not None else image)
        return Plan(num_frames, conds, init=init, strength=strength)

    # ------------------------------------------------------------------------- the loop

    @torch.no_grad()
    def __call__(
        self, prompt: str | list[str], negative_prompt: str | None = None, height: int = 64, width: int = 64,
        num_frames: int = 17, fps: float = 8.0, num_inference_steps: int | None = None,
        guidance_scale: float | None = None, generator: torch.Generator | int | None = None,
        image=None, last_image=None, video=None, strength: float | None = None,
        conditions: list[fc.FrameCondition] | None = None, mode: str | None = None,
        media: list[np.ndarray] | None = None, plan: Plan | None = None, output_type: str = "np",
        callback_on_step_end=None, latents: torch.Tensor | None = None, expand_prompt=False,
    ) -> PipelineOutput:
        """Generate; `out.frames` is the whole output video (a mode's inputs included, as its plan assembles).

        `num_frames` is the output's length; with `mode=` it is what the mode counts (the new footage for
        extension, connect and video loops; unused by video-to-video); with `plan=` the plan's count is used.
        `expand_prompt`: False, True (the model's own expander), a backend name or an Expander (text/expand.py);
        the prompts sampled on are `out.prompt`, the user's own in `out.extra["short_prompt"]`.
        """
        sample = self.config.sample
        steps = sample.steps if num_inference_steps is None else num_inference_steps  # 0 is an error, not "default"
        scale = sample.guidance if guidance_scale is None else guidance_scale
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        negative = negative_prompt or ""
        generator, seed = cpu_generator(generator)
        short_prompts = prompts
        if expand_prompt is not None and expand_prompt is not False:
            prompts = self.expand(prompts, seed, expand_prompt)

        # 1. check inputs and make the plan: the frames to generate, their conditions, how the output is joined
        self.check_size(height, width)
        if steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {steps}")
        if sample.window_latent_frames == 1 or sample.window_latent_frames < 0:
            raise ValueError(f"sample.window_latent_frames must be 0 (no windows) or at least 2 (a latent frame of "
                             f"context and a new one), got {sample.window_latent_frames}")
        if output_type not in ("np", "pt", "pil", "latent"):
            raise ValueError(f"output_type must be np, pt, pil or latent, got {output_type!r}")
        plan = self._plan(plan, mode, media, num_frames, height, width, image, last_image, video, strength,
                          conditions)
        self.check_frames(plan.num_frames)
        if output_type == "latent" and not plan.output_is_generated:
            raise ValueError("output_type='latent' returns generated latents only, but this mode joins them to its "
                             "inputs; ask for np, pt or pil")

        # 2. encode text
        text = self._encode_text(prompts)
        uncond = self._encode_text([negative]) if scale != 1.0 else None

        window = sample.window_latent_frames
        args = dict(text=text, uncond=uncond, scale=scale, steps=steps, generator=generator,
                    height=height, width=width, callback=callback_on_step_end, label="denoising")
        if window and fc.latent_frames(plan.num_frames, self.temporal_factor) > window and output_type != "latent":
            if plan.init is not None:
                raise ValueError("video-to-video is limited to sample.window_latent_frames latent frames")
            frames, shift = self._generate_windows(plan, window, len(prompts), args)
        else:
            z, shift = self._generate(plan, len(prompts), latents, args)
            if output_type == "latent":
                return self._output(z, prompts, negative, height, width, plan.num_frames, fps, seed, steps, scale,
                                    shift, short_prompts)
            # 6. decode
            frames = self.decode(z)
        # 7. assemble: the mode's inputs around the generated frames, (B, F, H, W, 3) uint8
        frames = np.stack([plan.assemble(one) for one in frames])
        return self._output(convert(frames, output_type), prompts, negative, height, width, frames.shape[1], fps,
                            seed, steps, scale, shift, short_prompts)

    def _generate(self, plan: Plan, batch: int, latents, args) -> tuple[torch.Tensor, float]:
        """Steps 3-5 for one window: conditions -> latents -> denoised latents (B, C, T', H', W')."""
        height, width, generator = args["height"], args["width"], args["generator"]
        device = _device_and_dtype(self.transformer)[0]
        shape = (batch, self.vae.latent_channels, fc.latent_frames(plan.num_frames, self.temporal_factor),
                 height // self.vae.spatial_factor, width // self.vae.spatial_factor)

        # 3. encode the conditions onto their latent frames
        x_cond, strength_per_frame = fc.encode_conditions(
            plan.conditions, self._encode_pixels, plan.num_frames, height, width, self.temporal_factor, shape, device)
        if x_cond is not None:
            x_cond = x_cond.expand(batch, -1, -1, -1, -1)  # (1, C, T', H', W') -> (B, C, T', H', W')
            strength_per_frame = strength_per_frame.expand(batch, -1)  # (1, T') -> (B, T')

        # 4. prepare latents: noise from a CPU generator, so a seed gives the same video on any device
        noise = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
        grid = self.transformer.grid(shape)
        n_tokens = grid[0] * grid[1] * grid[2]
        shift = self.config.sample.shift if self.config.sample.shift > 0 else shift_for_tokens(n_tokens, self.config.flow)
        start = 1.0 if plan.init is None else float(plan.strength)
        ts = timesteps(args["steps"], shift, start=start)
        if latents is not None:
            x = latents.to(device=device, dtype=torch.float32)
        elif plan.init is not None:
            clean = self._encode_pixels(fc.to_video_tensor(plan.init, height, width)[None]).to(device)
            x = (1.0 - start) * clean.expand(batch, -1, -1, -1, -1) + start * noise
        else:
            x = noise

        # 5. denoise
        model_fn = cfg_model_fn(self._denoiser, args["scale"], args["text"], args["uncond"],
                                self.config.sample.guidance_interval, self.guide_denoiser())
        with StepBar(len(ts) - 1, self.progress, args["label"]) as advance:
            def on_step(info):
                advance()
                if args["callback"] is not None:
                    out = args["callback"](self, info["i"], info["t"], {"latents": info["x"]})
                    return out.get("latents") if isinstance(out, dict) else None
                return None

            sampler = get_sampler(self.config.sample.sampler)
            z = sampler(model_fn, x, ts, strength_per_frame, x_cond, callback=on_step, noise=noise)
        return z, shift

    def _generate_windows(self, plan: Plan, window: int, batch: int, args):
        """Long videos: the first window, then forward extensions whose context is the video so far."""
        r = self.temporal_factor
        if batch != 1:
            raise ValueError("sliding-window generation makes one video at a time")
        context_latents = max(1, min(self.config.sample.context_latents, window - 1))
        first = 1 + r * (window - 1)
        for c in plan.conditions:
            if c.frame_index < 0 or c.frame_index >= first:
                raise ValueError("with sliding windows only conditions inside the first window are supported")
        per_window = r * (window - context_latents)
        windows = 1 + -(-max(0, plan.num_frames - first) // per_window)  # ceil: the later windows' new frames
        z, shift = self._generate(Plan(first, plan.conditions), 1, None, {**args, "label": f"window 1/{windows}"})
        parts = [self._decode_frames(z)]  # uint8 (T, H, W, 3) per window: memory follows the window
        made = first
        while made < plan.num_frames:
            new = min(plan.num_frames - made, per_window)
            video = np.concatenate(parts)[-(1 + r * (context_latents - 1)):]
            extension = modes.extend_forward(video, new, r, context_latents)
            z, _ = self._generate(extension, 1, None, {**args, "label": f"window {len(parts) + 1}/{windows}"})
            parts.append(self._decode_frames(z)[extension.keep])
            made += new
        return np.concatenate(parts)[None], shift  # (1, F, H, W, 3) uint8

    # ------------------------------------------------------------------------- parts

    def _encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        device, dtype = _device_and_dtype(self.transformer)
        emb, mask = self.text_encoder(prompts)
        return emb.to(device=device, dtype=dtype), mask.to(device)

    def _encode_pixels(self, video: torch.Tensor) -> torch.Tensor:
        """(1, 3, T, H, W) in [-1, 1] -> float32 latents on the DiT's device."""
        device, dtype = _device_and_dtype(self.vae)
        z = self.vae.encode(video.to(device=device, dtype=dtype), chunk_frames=self.config.vae.chunk_frames)
        return z.float().to(_device_and_dtype(self.transformer)[0])

    def _denoiser(self, x, t, frame_mask, text, text_mask, transformer=None):
        """The DiT (or `transformer`, the autoguidance guide) as the sampler sees it: conditioned frames' tokens
        carry t = 0, and the output is a velocity whatever the DiT predicts (flow.prediction)."""
        transformer = transformer if transformer is not None else self.transformer
        device, dtype = _device_and_dtype(transformer)
        grid = transformer.grid(x.shape)
        t_tokens = tokens_t(t, frame_mask, grid, self.config.dit.patch_size[0])  # (B,) -> (B, N)
        out = transformer(x.to(dtype), t_tokens.to(dtype), text, text_mask)
        return model_velocity(out.float(), x, latent_t(t, frame_mask), self.config.flow.prediction)

    def guide_denoiser(self):
        """sample.guidance_model as a denoiser (autoguidance), loaded once and kept; None when unset."""
        path = self.config.sample.guidance_model
        if not path:
            return None
        if self._guide is None or self._guide[0] != path:
            self._guide = (path, load_guide_transformer(path, self.transformer))
        device, dtype = _device_and_dtype(self.transformer)
        guide = self._guide[1].to(device=device, dtype=dtype)  # follows the DiT (a no-op once there)
        return lambda x, t, frame_mask, text, text_mask: self._denoiser(x, t, frame_mask, text, text_mask, guide)

    def decode(self, z: torch.Tensor) -> np.ndarray:
        """(B, C, T', H', W') latents -> uint8 (B, F, H, W, 3), chunked in time, tiled in space if large."""
        return np.stack([self._decode_frames(z[i:i + 1]) for i in range(z.shape[0])])

    def _decode_frames(self, z: torch.Tensor) -> np.ndarray:
        device, dtype = _device_and_dtype(self.vae)
        vae_cfg = self.config.vae
        height, width = z.shape[-2] * self.vae.spatial_factor, z.shape[-1] * self.vae.spatial_factor
        # the VAE tiles by its config; a config that never tiles still tiles big stills (text-to-image at 2048)
        tile = None if vae_cfg.tile_size else (256 if max(height, width) > 512 else 0)
        video = self.vae.decode(z.to(device=device, dtype=dtype), chunk_frames=vae_cfg.chunk_frames, tile=tile)
        return video_io.to_frames(video[0])  # (3, T, H, W) -> (T, H, W, 3) uint8

    def _output(self, frames, prompts, negative, height, width, num_frames, fps, seed, steps, scale, shift,
                short_prompts=None):
        extra = {} if short_prompts is None or short_prompts == prompts else {"short_prompt": short_prompts}
        return PipelineOutput(frames, prompts, negative, height, width, num_frames, fps, seed, steps, scale,
                              self.config.sample.sampler, float(shift), extra)

    def expand(self, prompts: str | list[str], seed: int, expander=True, **options) -> list[str]:
        """Short prompts -> detailed captions (text/expand.py); `True` = this model's own expander."""
        from patchflow.text.expand import expand_with, resolve_expander

        one = resolve_expander(expander, trained_on_world=not self.config.data.manifest, **options)
        return [expand_with(one, p, seed) for p in ([prompts] if isinstance(prompts, str) else prompts)]
