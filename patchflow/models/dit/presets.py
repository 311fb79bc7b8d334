"""DiT sizes as data: width, depth, heads (the DiT paper's S/B/L/XL, plus debug and tiny for CPUs)."""

from __future__ import annotations

import dataclasses

from patchflow.config import DiTConfig

PRESETS: dict[str, dict[str, int]] = {
    "debug": {"width": 64, "depth": 2, "heads": 4},  # milliseconds per step; tests
    "tiny": {"width": 192, "depth": 6, "heads": 6},  # world_tiny on a laptop CPU
    "S": {"width": 384, "depth": 12, "heads": 6},
    "B": {"width": 768, "depth": 12, "heads": 12},
    "L": {"width": 1024, "depth": 24, "heads": 16},
    "XL": {"width": 1152, "depth": 28, "heads": 16},
}


def dit_config(preset: str, **overrides) -> DiTConfig:
    """A DiTConfig of preset `preset`; keyword overrides for any other field (in_channels, text_dim, ...)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown DiT preset {preset!r}; known: {list(PRESETS)}")
    cfg = DiTConfig(preset=preset, **PRESETS[preset])
    return dataclasses.replace(cfg, **overrides)
