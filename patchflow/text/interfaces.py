"""The two language interfaces of the Sora report's techniques.

Re-captioning: a `Captioner` writes a detailed caption for every training clip.
Prompt expansion: an `Expander` turns a user's short prompt into the detailed
caption style the model was trained on. Backends: world_expander.py (exact,
no model), chat_backends.py (any OpenAI-compatible server), hf_backends.py
(local Hugging Face folders).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Captioner(Protocol):
    def caption(self, frames: np.ndarray) -> str:
        """frames: (T, H, W, 3) uint8, T >= 1 (an image is T = 1) -> one detailed caption."""
        ...


@runtime_checkable
class Expander(Protocol):
    def expand(self, prompt: str, seed: int) -> str:
        """A short prompt -> one detailed caption; the same (prompt, seed) gives the same text where the
        backend can promise it (world, local HF: always; a chat server: when it honours seeds)."""
        ...


__all__ = ["Captioner", "Expander"]
