"""An expander and a captioner over local Hugging Face folders (never downloaded: local_files_only=True).

Expander: a causal LM folder (AutoTokenizer + AutoModelForCausalLM), asked with
the tokenizer's chat template when it has one, else with a plain prompt.
Captioner: a vision-language folder (AutoProcessor + AutoModelForImageTextToText,
or AutoModelForVision2Seq on transformers versions that still have it), shown N
frames sampled evenly from the clip. Both decode greedily, so the same input gives
the same text; only the newly generated tokens are returned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from patchflow.text.caption_style import CAPTION_INSTRUCTION, EXPAND_SYSTEM_PROMPT
from patchflow.text.frames import sample_frames


def check_folder(folder: str | Path, what: str) -> Path:
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{what} folder {path} has no config.json; give a local Hugging Face model folder "
                                "(save_pretrained output or a downloaded snapshot): nothing is downloaded")
    return path


def new_tokens_text(decode, generated: torch.Tensor, prompt_length: int) -> str:
    """The text of the tokens after the prompt; generated: (1, prompt_length + new)."""
    return decode(generated[0, prompt_length:], skip_special_tokens=True).strip()


class HFExpander:
    """`expand(prompt, seed)` with a local causal LM. Greedy: the seed changes nothing and is accepted for the
    Expander interface."""

    def __init__(self, folder: str | Path, max_new_tokens: int = 120, system_prompt: str = EXPAND_SYSTEM_PROMPT,
                 device: str = "cpu"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = check_folder(folder, "expander language model")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device).eval()
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt

    def prompt_text(self, prompt: str) -> str:
        """What the model reads: its own chat format when the tokenizer has one (instruction-tuned models)."""
        if self.tokenizer.chat_template:
            messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": prompt}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{self.system_prompt}\nShort prompt: {prompt}\nDetailed caption:"

    @torch.no_grad()
    def expand(self, prompt: str, seed: int) -> str:
        inputs = self.tokenizer(self.prompt_text(prompt), return_tensors="pt", add_special_tokens=False)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                        pad_token_id=pad)  # (1, L + new)
        return new_tokens_text(self.tokenizer.decode, generated, inputs["input_ids"].shape[1])


def _vision_model_class():
    import transformers

    for name in ("AutoModelForImageTextToText", "AutoModelForVision2Seq"):
        if hasattr(transformers, name):
            return getattr(transformers, name)
    raise ImportError(f"transformers {transformers.__version__} has neither AutoModelForImageTextToText nor "
                      "AutoModelForVision2Seq; install transformers >= 4.40")


class HFCaptioner:
    """`caption(frames)` with a local vision-language model: N evenly sampled frames and the caption instruction
    in one user turn of the processor's chat template."""

    def __init__(self, folder: str | Path, num_frames: int = 8, max_new_tokens: int = 120,
                 instruction: str = CAPTION_INSTRUCTION, device: str = "cpu"):
        from transformers import AutoProcessor

        path = check_folder(folder, "captioner vision-language model")
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        self.model = _vision_model_class().from_pretrained(path, local_files_only=True).to(device).eval()
        self.device = device
        self.num_frames = num_frames
        self.max_new_tokens = max_new_tokens
        self.instruction = instruction

    @torch.no_grad()
    def caption(self, frames: np.ndarray) -> str:
        images = sample_frames(frames, self.num_frames)
        content = [*({"type": "image"} for _ in images), {"type": "text", "text": self.instruction}]
        text = self.processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                  add_generation_prompt=True)
        inputs = self.processor(text=text, images=images, return_tensors="pt").to(self.device)
        generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)  # (1, L+new)
        return new_tokens_text(self.processor.decode, generated, inputs["input_ids"].shape[1])


__all__ = ["HFExpander", "HFCaptioner", "check_folder"]
