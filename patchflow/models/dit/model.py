"""The diffusion transformer over spacetime patches.

    v = DiT(cfg)(x (B, C, T, H, W), t (B, N), text (B, L, D_text), text_mask (B, L)) -> (B, C, T, H, W)

Latents are cut into p_t x p_h x p_w patches (tokens in t, h, w order); every
block is full spacetime self-attention (3D RoPE, QK-norm), cross-attention to
the text tokens, and an MLP, modulated per token by the token's time (adaLN-
single, zero-initialised). Time is per token so that conditioning frames are
just tokens at t = 0. The output projection starts at zero: a fresh model
predicts exactly v = 0.

Plain nn.Module: parallelism (FSDP2, sequence parallel, checkpointing, compile)
is applied from outside. It relies on `self.blocks` (an nn.ModuleList of
`Block`) and on each attention module's `attn_fn` (see attention.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn as nn

from patchflow.config import DiTConfig
from patchflow.models.dit.attention import bind
from patchflow.models.dit.embeddings import (
    TimestepEmbedder,
    apply_rope,
    patch_grid,
    patchify,
    rope_freqs,
    unpatchify,
)
from patchflow.models.dit.layers import MLP, AdaLNSingle, LayerNorm, RMSNorm, modulate

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
CLASS_NAME = "PatchflowDiT"  # config.json's `_class_name` and model_index.json's name for the transformer


class SelfAttention(nn.Module):
    """Full attention over all spacetime tokens with QK-norm and 3D RoPE."""

    def __init__(self, dim: int, heads: int, qk_norm: bool, backend: str):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)  # one fused matmul instead of three
        self.q_norm = RMSNorm(dim // heads) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(dim // heads) if qk_norm else nn.Identity()
        self.out = nn.Linear(dim, dim)
        self.attn_fn = bind(backend)  # sequence parallel swaps this for its all-to-all wrapper

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, -1))  # (B, N, 3D) -> (B, N, 3, H, Dh)
        q, k, v = qkv.unbind(2)  # 3 x (B, N, H, Dh), views
        q = apply_rope(self.q_norm(q), rope)
        k = apply_rope(self.k_norm(k), rope)
        # (B, N, H, Dh) -> (B, H, N, Dh) views: SDPA reads strided inputs, no copies here
        o = self.attn_fn(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.out(o.transpose(1, 2).flatten(2))  # (B, H, N, Dh) -> (B, N, D)


class CrossAttention(nn.Module):
    """Video tokens attend to the (projected) text tokens; padding tokens are masked out."""

    def __init__(self, dim: int, heads: int, qk_norm: bool, backend: str):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.q_norm = RMSNorm(dim // heads) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(dim // heads) if qk_norm else nn.Identity()
        self.out = nn.Linear(dim, dim)
        self.attn_fn = bind(backend)

    def forward(self, x: torch.Tensor, text: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q = self.q_norm(self.q(x).unflatten(-1, (self.heads, -1)))  # (B, N, D) -> (B, N, H, Dh)
        k, v = self.kv(text).unflatten(-1, (2, self.heads, -1)).unbind(2)  # (B, L, 2D) -> 2 x (B, L, H, Dh)
        k = self.k_norm(k)
        mask = None if mask is None else mask[:, None, None, :]  # (B, L) -> (B, 1, 1, L)
        o = self.attn_fn(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask)  # (B, H, *, Dh) views
        return self.out(o.transpose(1, 2).flatten(2))  # (B, H, N, Dh) -> (B, N, D)


class Block(nn.Module):
    """Self-attention, cross-attention, MLP; adaLN-zero gates on the self-attention and the MLP."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        D = cfg.width
        self.norm1 = LayerNorm(D)
        self.attn = SelfAttention(D, cfg.heads, cfg.qk_norm, cfg.attention)
        self.norm2 = LayerNorm(D, affine=True)
        self.cross = CrossAttention(D, cfg.heads, cfg.qk_norm, cfg.attention)
        self.norm3 = LayerNorm(D)
        self.mlp = MLP(D, int(D * cfg.mlp_ratio))
        self.mod_bias = nn.Parameter(torch.zeros(6, D))  # adaLN-single: this block's own offset

    def forward(self, x, mod, text, text_mask, rope):
        """x (B, N, D); mod (B, G, 6, D) for G groups of N/G consecutive tokens (see DiT.time_conditioning)."""
        G = mod.shape[1]
        # + this block's bias, then six (B, G, 1, D) that broadcast over the tokens of each group
        shift1, scale1, gate1, shift2, scale2, gate2 = (mod + self.mod_bias)[:, :, None].unbind(3)
        x = x.unflatten(1, (G, -1))  # (B, N, D) -> (B, G, N/G, D), a view
        h = self.attn(modulate(self.norm1(x), shift1, scale1).flatten(1, 2), rope)  # (B, N, D)
        x = torch.addcmul(x, gate1, h.unflatten(1, (G, -1)))
        x = x + self.cross(self.norm2(x).flatten(1, 2), text, text_mask).unflatten(1, (G, -1))
        x = torch.addcmul(x, gate2, self.mlp(modulate(self.norm3(x), shift2, scale2)))
        return x.flatten(1, 2)  # (B, G, N/G, D) -> (B, N, D)


class Embedded(NamedTuple):
    """DiT.embed's output: what every block reads, for G time groups of N/G consecutive tokens."""

    tokens: torch.Tensor  # (B, N, D) patch tokens
    text: torch.Tensor  # (B, L, D) projected text
    text_mask: torch.Tensor | None  # (B, L) bool; None when every token is valid
    temb: torch.Tensor  # (B, G, D) time embedding (the final layer's modulation)
    mod: torch.Tensor  # (B, G, 6, D) the blocks' shared modulation
    rope: torch.Tensor  # (N, 1, Dh/2, 2) cos, sin
    grid: tuple[int, int, int]  # (T/p_t, H/p_h, W/p_w)


class DiT(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        if cfg.width % cfg.heads:
            raise ValueError(f"dit.width={cfg.width} is not divisible by dit.heads={cfg.heads}")
        if len(cfg.patch_size) != 3:
            raise ValueError(f"dit.patch_size must be [p_t, p_h, p_w], got {cfg.patch_size}")
        self.cfg = cfg
        self.patch = tuple(cfg.patch_size)
        D, patch_dim = cfg.width, cfg.in_channels * cfg.patch_size[0] * cfg.patch_size[1] * cfg.patch_size[2]
        self.head_dim = D // cfg.heads
        self.patch_embed = nn.Linear(patch_dim, D)
        self.text_proj = MLP(cfg.text_dim, D, D)
        self.t_embed = TimestepEmbedder(D)
        self.adaln = AdaLNSingle(D)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm_out = LayerNorm(D)
        self.out_mod = nn.Parameter(torch.zeros(2, D))  # final (shift, scale) bias, added to the t embedding
        self.proj_out = nn.Linear(D, patch_dim)
        self._rope_cache: dict = {}  # not a buffer: never saved, rebuilt on any device
        self._init_weights()

    def _init_weights(self):
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear) and not name.startswith(("t_embed", "adaln")):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for block in self.blocks:  # cross-attention starts silent too (PixArt), like the gated paths
            nn.init.zeros_(block.cross.out.weight)
        nn.init.zeros_(self.proj_out.weight)  # a fresh model predicts exactly zero
        nn.init.zeros_(self.proj_out.bias)

    def grid(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(T/p_t, H/p_h, W/p_w) of a latent shape (B, C, T, H, W); ValueError when not divisible."""
        return patch_grid(shape, self.patch)

    def time_conditioning(self, t: torch.Tensor, grid: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """t (B, N) -> temb (B, G, D) and shared modulation (B, G, 6, D), G groups of N/G consecutive tokens.

        Times come in runs: one per sample (text-to-video, sampling: G = 1) or
        one per latent frame (frame conditioning: G = T/p_t). Modulating per
        group lets the blocks broadcast instead of streaming a (B, N, 6, D)
        tensor through every block; any other t is per token (G = N). The MLPs
        run on the distinct times only. Skipped under torch.compile (data-
        dependent shapes): there G = N. `expand_groups(mod, N)` gives per token.
        """
        if torch.compiler.is_compiling():
            temb = self.t_embed(t)  # (B, N, D)
            return temb, self.adaln(temb)
        B, N = t.shape
        for G in (1, grid[0]):
            runs = t.view(B, G, N // G)  # (B, N) -> (B, G, N/G)
            if bool((runs == runs[..., :1]).all()):
                t = runs[..., 0]  # (B, G)
                break
        uniq, inverse = torch.unique(t, return_inverse=True)  # (U,), (B, G)
        temb = self.t_embed(uniq)  # (U, D)
        return temb[inverse], self.adaln(temb)[inverse]  # (B, G, D), (B, G, 6, D)

    @staticmethod
    def expand_groups(mod: torch.Tensor, n_tokens: int) -> torch.Tensor:
        """(B, G, ...) group modulation -> (B, N, ...) one row per token (for code that slices tokens)."""
        return mod.repeat_interleave(n_tokens // mod.shape[1], dim=1)

    def rope(self, grid: tuple[int, int, int], device: torch.device) -> torch.Tensor:
        """3D RoPE rotations for `grid`, kept per grid (a few shapes recur all run long)."""
        if torch.compiler.is_compiling():
            return rope_freqs(grid, self.head_dim, self.cfg.rope_theta, device=device)
        key = (grid, str(device))
        if key not in self._rope_cache:
            if len(self._rope_cache) >= 64:  # bucketed training sees a handful of grids; bound it anyway
                self._rope_cache.clear()
            self._rope_cache[key] = rope_freqs(grid, self.head_dim, self.cfg.rope_theta, device=device)
        return self._rope_cache[key]

    @staticmethod
    def _trim_text(text: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Drop padding columns no sample uses and skip an all-true mask (lets SDPA pick its fastest
        kernel); outside torch.compile only, as both depend on the data. Masked tokens never count,
        so the output is the same either way."""
        mask = mask.clone()
        mask[:, 0] |= ~mask.any(dim=1)  # a row with no valid token would softmax over nothing: see token 0
        if torch.compiler.is_compiling():
            return text, mask
        used = int(mask.any(dim=0).nonzero().max()) + 1  # last column any sample attends to
        text, mask = text[:, :used], mask[:, :used]  # (B, L) -> (B, L_used)
        return text, (None if bool(mask.all()) else mask)

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        """-> (B, C, T, H, W); with `keep` (N_keep,) token indices (training's token masking,
        train/token_mask.py: the same count in every latent frame) the blocks see those tokens only and the
        output is their patches (B, N_keep, C*pt*ph*pw)."""
        s = self.embed(x, t, text, text_mask)
        h, mod, temb, rope = s.tokens, s.mod, s.temb, s.rope
        if keep is not None:
            h, rope = h[:, keep], rope[keep]  # (B, N, D) -> (B, N_keep, D); (N, ...) -> (N_keep, ...)
            if mod.shape[1] == s.tokens.shape[1]:  # one time a token: its modulation goes with it
                mod, temb = mod[:, keep], temb[:, keep]  # (B, N, ...) -> (B, N_keep, ...)
            # else one group a sample or a latent frame: keep holds the same count in every frame, so the
            # groups stay consecutive runs of equal length
        for block in self.blocks:
            h = block(h, mod, s.text, s.text_mask, rope)
        if keep is not None:
            return self.head(h, temb)  # (B, N_keep, C*pt*ph*pw)
        return unpatchify(self.head(h, temb), s.grid, self.patch).to(x.dtype)  # (B, C, T, H, W)

    # The pieces of forward, for code that runs the blocks on part of the tokens (parallel/sequence_dit.py).

    def embed(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> Embedded:
        """Everything the blocks read: the patch tokens, the projected text, time conditioning and RoPE."""
        B = x.shape[0]
        grid = self.grid(x.shape)
        N = grid[0] * grid[1] * grid[2]
        if t.shape != (B, N):
            raise ValueError(f"t must be (B, N) = {(B, N)} (one time per token), got {tuple(t.shape)}")
        if text_mask.dtype != torch.bool:
            raise ValueError(f"text_mask must be bool, got {text_mask.dtype}")
        text, text_mask = self._trim_text(text, text_mask)

        h = self.patch_embed(patchify(x, self.patch).to(self.patch_embed.weight.dtype))  # (B, N, D)
        text = self.text_proj(text.to(h.dtype))  # (B, L, D_text) -> (B, L, D)
        temb, mod = self.time_conditioning(t, grid)  # (B, G, D), (B, G, 6, D)
        rope = self.rope(grid, x.device)  # (N, 1, Dh/2, 2) cos, sin
        return Embedded(h, text, text_mask, temb, mod, rope, grid)

    def head(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """The final modulated norm and projection: h (B, N, D), temb (B, G, D) -> (B, N, C*pt*ph*pw) patches."""
        shift, scale = (self.out_mod + temb[:, :, None, :])[:, :, None].unbind(3)  # 2 x (B, G, 1, D)
        h = modulate(self.norm_out(h.unflatten(1, (temb.shape[1], -1))), shift, scale)  # (B, G, N/G, D)
        return self.proj_out(h.flatten(1, 2))  # (B, N, D) -> (B, N, C*pt*ph*pw)

    # ------------------------------------------------------------------------- helpers

    def num_params(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config.json (the DiTConfig) + diffusion_pytorch_model.safetensors (diffusers layout)."""
        from safetensors.torch import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = {"_class_name": CLASS_NAME, **dataclasses.asdict(self.cfg)}
        (d / CONFIG_NAME).write_text(json.dumps(meta, indent=2))
        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(d / WEIGHTS_NAME))
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> DiT:
        """A DiT folder (config.json + weights); a missing or damaged file raises ModelFolderError naming it."""
        from patchflow.model_folder_errors import ModelFolderError, load_weights, read_config, require

        d = Path(directory)
        require(d / CONFIG_NAME, "the DiT's settings")
        require(d / WEIGHTS_NAME, "the DiT's weights")
        try:
            model = cls(read_config(d / CONFIG_NAME, DiTConfig, drop_private=True))
        except ModelFolderError:
            raise
        except ValueError as e:  # settings that no DiT can have (width not divisible by heads, ...)
            raise ModelFolderError(f"{d / CONFIG_NAME}: {e}") from None
        load_weights(model, d / WEIGHTS_NAME, device)
        return model.to(device)
