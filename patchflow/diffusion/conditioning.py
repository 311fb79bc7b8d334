"""Frame conditioning as data: masks over latent frames, turned into per-token times.

A conditioned latent frame is clean: its tokens get t = 0 and carry no loss.
Image-to-video is a mask on frame 0, extension forward the first k frames,
backward the last k, a loop or a bridge between two clips the first and last
frames. Training samples these masks at random (Open-Sora), keeping plenty of
plain text-to-video samples so the model stays a good unconditional generator.
"""

from __future__ import annotations

import torch

KINDS = ("none", "first", "first_k", "last_k", "first_last", "random")
MIN_NONE = 0.4  # at least this share of samples must be plain text-to-video


def validate_cond_mix(cond_mix: dict[str, float]) -> dict[str, float]:
    """Check `flow.cond_mix` and return it normalised to sum 1."""
    unknown = sorted(set(cond_mix) - set(KINDS))
    if unknown:
        raise ValueError(f"flow.cond_mix: unknown mask kind {unknown[0]!r}; known kinds: {list(KINDS)}")
    if any(w < 0 for w in cond_mix.values()):
        raise ValueError(f"flow.cond_mix: weights must be >= 0, got {cond_mix}")
    total = sum(cond_mix.values())
    if total <= 0:
        raise ValueError(f"flow.cond_mix: weights sum to {total}; give at least 'none' a positive weight")
    mix = {k: cond_mix.get(k, 0.0) / total for k in KINDS}
    if mix["none"] < MIN_NONE:
        raise ValueError(
            f"flow.cond_mix: 'none' (text-to-video) is {mix['none']:.3f} of the mix; it must be >= {MIN_NONE} "
            "so the model keeps generating from text alone"
        )
    return mix


def choose_kinds(batch: int, cond_mix: dict[str, float], generator: torch.Generator | None = None) -> list[str]:
    """One mask kind per sample, drawn with the (normalised) cond_mix probabilities."""
    mix = validate_cond_mix(cond_mix)
    probs = torch.tensor([mix[k] for k in KINDS])
    idx = torch.multinomial(probs, batch, replacement=True, generator=generator)
    return [KINDS[i] for i in idx.tolist()]


def _randint(lo: int, hi: int, generator: torch.Generator | None) -> int:
    """Uniform integer in [lo, hi]."""
    return int(torch.randint(lo, hi + 1, (1,), generator=generator))


def kind_mask(kind: str, T: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(T,) bool mask of one kind; always leaves at least one free frame (an image is never conditioned)."""
    m = torch.zeros(T, dtype=torch.bool)
    if T < 2 or kind == "none":
        return m
    if kind == "first" or (kind == "first_last" and T < 3):
        m[0] = True
    elif kind == "first_k":
        m[: _randint(1, T - 1, generator)] = True
    elif kind == "last_k":
        m[T - _randint(1, T - 1, generator) :] = True
    elif kind == "first_last":
        m[0] = m[-1] = True
    elif kind == "random":
        m = torch.rand(T, generator=generator) < 0.5
        if m.all():  # keep one free frame to learn from
            m[_randint(0, T - 1, generator)] = False
        if not m.any():  # and one conditioned frame, else it is just "none"
            m[_randint(0, T - 1, generator)] = True
    else:
        raise ValueError(f"unknown mask kind {kind!r}; known kinds: {list(KINDS)}")
    return m


def random_frame_mask(
    batch: int, T_lat: int, cond_mix: dict[str, float], generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, T_lat) bool training masks, True = conditioned (clean) latent frame."""
    kinds = choose_kinds(batch, cond_mix, generator)
    return torch.stack([kind_mask(k, T_lat, generator) for k in kinds])  # (B, T_lat)


def latent_t(t: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """(B,) times + (B, T) mask -> (B, 1, T, 1, 1) per-latent-frame times, 0 on conditioned frames."""
    frame_t = torch.where(frame_mask.to(t.device), torch.zeros_like(t)[:, None], t[:, None])  # (B, T)
    return frame_t[:, None, :, None, None]  # (B, T) -> (B, 1, T, 1, 1)


def tokens_t(t: torch.Tensor, frame_mask: torch.Tensor, grid: tuple[int, int, int], patch_t: int) -> torch.Tensor:
    """(B,) times + (B, T_lat) mask -> (B, N) per-token times in the DiT's (t, h, w) token order.

    With p_t > 1 a token spans p_t latent frames; it takes the largest (noisiest)
    time among them, so it counts as clean only when all its frames are.
    """
    B, T_lat = frame_mask.shape
    Tg, Hg, Wg = grid
    if T_lat != Tg * patch_t:
        raise ValueError(f"frame mask has {T_lat} latent frames but the grid has {Tg} x p_t={patch_t}")
    frame_t = latent_t(t, frame_mask).view(B, Tg, patch_t)  # (B, 1, T_lat, 1, 1) -> (B, Tg, p_t)
    token_t = frame_t.amax(dim=-1)  # (B, Tg)
    return token_t[:, :, None].expand(B, Tg, Hg * Wg).reshape(B, Tg * Hg * Wg)  # (B, Tg, Hg*Wg) -> (B, N)


def pad_text(emb: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut or right-pad (B, L, D) tokens and their (B, L) mask to `length` tokens (padding is masked out)."""
    if emb.shape[1] >= length:
        return emb[:, :length], mask[:, :length]
    extra = length - emb.shape[1]
    emb = torch.nn.functional.pad(emb, (0, 0, 0, extra))  # (B, L, D) -> (B, length, D)
    mask = torch.nn.functional.pad(mask, (0, extra), value=False)  # (B, L) -> (B, length)
    return emb, mask


def drop_text(
    text: torch.Tensor,
    text_mask: torch.Tensor,
    empty: tuple[torch.Tensor, torch.Tensor],
    p: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each prompt of (B, L, D) tokens / (B, L) mask becomes the empty prompt's with probability p
    (flow.text_dropout): trains the unconditional branch that classifier-free guidance needs.

    empty: the embedding of "" as (1, L_e, D) tokens and (1, L_e) mask, cut or padded to L.
    """
    drop = (torch.rand(text.shape[0], generator=generator) < p).to(text.device)  # (B,) True = dropped
    if not drop.any():
        return text, text_mask
    empty_text, empty_mask = pad_text(*empty, text.shape[1])  # (1, L, D), (1, L)
    text = torch.where(drop[:, None, None], empty_text.to(text), text)
    text_mask = torch.where(drop[:, None], empty_mask.to(text_mask), text_mask)
    return text, text_mask
