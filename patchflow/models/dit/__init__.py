"""Diffusion transformer over spacetime patches (see model.py)."""

from patchflow.models.dit.attention import attention
from patchflow.models.dit.model import DiT
from patchflow.models.dit.presets import PRESETS, dit_config

__all__ = ["DiT", "PRESETS", "attention", "dit_config"]
