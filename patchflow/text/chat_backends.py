"""A captioner and an expander over an OpenAI-compatible chat server (see chat_client.py).

Captioner: frames (T, H, W, 3) uint8 in, caption out; N frames sampled evenly
from the clip travel as PNG data-URL image parts. Expander: short prompt in,
detailed caption out, asked with a system prompt in the training caption style.
"""

from __future__ import annotations

import numpy as np

from patchflow.text.caption_style import CAPTION_INSTRUCTION, EXPAND_SYSTEM_PROMPT
from patchflow.text.chat_client import ChatClient
from patchflow.text.frames import png_data_url, sample_frames


class OpenAICaptioner:
    """`caption(frames)` -> the model's detailed caption of the clip; `caption_many(clips)` concurrently."""

    def __init__(self, client: ChatClient, num_frames: int = 8, instruction: str = CAPTION_INSTRUCTION):
        self.client = client
        self.num_frames = num_frames
        self.instruction = instruction

    def messages(self, frames: np.ndarray) -> list[dict]:
        images = [{"type": "image_url", "image_url": {"url": png_data_url(im)}}
                  for im in sample_frames(frames, self.num_frames)]
        return [{"role": "user", "content": [{"type": "text", "text": self.instruction}, *images]}]

    def caption(self, frames: np.ndarray) -> str:
        return self.client.complete(self.messages(frames))

    def caption_many(self, clips: list[np.ndarray]) -> list[str]:
        return self.client.complete_many([self.messages(c) for c in clips])


class OpenAIExpander:
    """`expand(prompt, seed)` -> a detailed caption in the training style. The seed is sent as the request's
    `seed` (servers that honour it sample reproducibly; at temperature 0 most are greedy anyway)."""

    def __init__(self, client: ChatClient, system_prompt: str = EXPAND_SYSTEM_PROMPT):
        self.client = client
        self.system_prompt = system_prompt

    def messages(self, prompt: str) -> list[dict]:
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": prompt}]

    def expand(self, prompt: str, seed: int) -> str:
        return self.client.complete(self.messages(prompt), seed=seed)

    def expand_many(self, prompts: list[str], seed: int) -> list[str]:
        return self.client.complete_many([self.messages(p) for p in prompts], seeds=[seed] * len(prompts))


__all__ = ["OpenAICaptioner", "OpenAIExpander"]
