"""Text: the prompt encoder (captioners and prompt expanders live beside it)."""

from patchflow.text.encoder import TextEncoder, default_encoder_path

__all__ = ["TextEncoder", "default_encoder_path"]
