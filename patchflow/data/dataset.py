"""Turn a batch plan into tensors: decode each sample, replacing the ones that fail.

A sample that fails to decode (or takes longer than `decode_timeout_s`) is replaced by another
sample of the same bucket, so a batch never shrinks and never mixes shapes. Every failure is
reported back with the batch; the loader counts them and stops the run past its threshold.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
import torch

from patchflow.data.buckets import Bucket
from patchflow.data.decode import decode_clip
from patchflow.data.sampler import BatchPlan
from patchflow.media import MediaError

# Tries per batch slot before giving up on a bucket whose every file fails: a bound, not a policy
# (the skip fraction normally stops the run long before).
REPLACEMENT_TRIES = 16


class DecodeTimeout(MediaError):
    """A decode that took longer than `data.decode_timeout_s`."""


def call_with_timeout(fn: Callable, args: tuple, timeout_s: float):
    """fn(*args), or DecodeTimeout after `timeout_s`.

    The call runs on a daemon thread: a decoder stuck in FFmpeg cannot be interrupted, but the run
    moves on without it and the thread never holds up the process's exit.
    """
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = fn(*args)
        except BaseException as e:  # handed to the caller below
            outcome["error"] = e

    thread = threading.Thread(target=target, daemon=True, name="patchflow-decode")
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise DecodeTimeout(f"decoding took longer than data.decode_timeout_s={timeout_s}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class BucketDataset:
    """Loads batches (as planned by the sampler) from manifest rows; usable inside DataLoader workers."""

    def __init__(
        self, rows: list[dict], members: dict[Bucket, list[int]], fps: float, seed: int = 0,
        decode_timeout_s: float = 30.0, decode_fn: Callable = decode_clip, prompt_ratio: float = 0.0,
    ):
        if not 0.0 <= prompt_ratio <= 1.0:
            raise ValueError(f"data.prompt_ratio must lie in [0, 1], got {prompt_ratio}")
        self.rows, self.members, self.fps, self.seed = rows, members, fps, seed
        self.prompt_ratio = prompt_ratio
        self.decode_timeout_s, self.decode_fn = decode_timeout_s, decode_fn

    def __getitem__(self, plan: BatchPlan) -> dict:
        return self.load_batch(plan)

    def load_batch(self, plan: BatchPlan) -> dict:
        """{"video": (B, 3, T, H, W), "text", "path", "bucket"} plus `failures` [(path, reason)], `state`."""
        clips, texts, paths, failures = [], [], [], []
        for slot, index in enumerate(plan.indices):
            for attempt in range(REPLACEMENT_TRIES):
                try:
                    clips.append(self.load_sample(index, plan.bucket, plan.epoch))
                    break
                except (MediaError, OSError, ValueError, RuntimeError) as e:
                    failures.append((self.rows[index]["path"], f"{type(e).__name__}: {e}"))
                    index = self.replacement(plan.bucket, plan.epoch, slot, plan.indices[slot], attempt)
            else:
                raise RuntimeError(
                    f"bucket {plan.bucket.key}: {REPLACEMENT_TRIES} samples in a row failed to decode; "
                    f"last: {failures[-1][0]}: {failures[-1][1]}"
                )
            texts.append(self.sample_text(index, plan.epoch))
            paths.append(self.rows[index]["path"])
        video = torch.stack(clips)  # (B, 3, T, H, W)
        return {"video": video, "text": texts, "path": paths, "bucket": plan.bucket.key,
                "failures": failures, "state": plan.state}

    def load_sample(self, index: int, bucket: Bucket, epoch: int) -> torch.Tensor:
        """(3, T, H, W) for row `index` cut to `bucket`, from a start chosen by (seed, epoch, index)."""
        row = self.rows[index]
        start_s = self.clip_start(row, bucket, epoch, index)
        args = (row["path"], bucket.frames, self.fps, bucket.height, bucket.width, start_s)
        clip = call_with_timeout(self.decode_fn, args, self.decode_timeout_s)
        expected = (3, bucket.frames, bucket.height, bucket.width)
        if tuple(clip.shape) != expected:
            raise MediaError(f"decoded shape {tuple(clip.shape)}, expected {expected}")
        return clip

    def sample_text(self, index: int, epoch: int) -> str:
        """The row's caption, or its short prompt with probability prompt_ratio, drawn from (seed, epoch, index)."""
        row = self.rows[index]
        prompt = str(row.get("prompt") or "")
        if prompt and self.prompt_ratio > 0 and np.random.default_rng([self.seed, 6, epoch, index]).random() < self.prompt_ratio:
            return prompt
        return str(row.get("text") or "")

    def clip_start(self, row: dict, bucket: Bucket, epoch: int, index: int) -> float:
        """A random source frame to start at, so that the clip still fits before the video ends."""
        num_frames, source_fps = int(row.get("num_frames") or 1), float(row.get("fps") or 0.0)
        if num_frames <= 1 or source_fps <= 0:
            return 0.0
        spare_s = (num_frames - 1) / source_fps - (bucket.frames - 1) / self.fps
        last_start_frame = math.floor(spare_s * source_fps + 1e-6)
        if last_start_frame <= 0:
            return 0.0
        rng = np.random.default_rng([self.seed, 4, epoch, index])
        return int(rng.integers(0, last_start_frame + 1)) / source_fps

    def replacement(self, bucket: Bucket, epoch: int, slot: int, original: int, attempt: int) -> int:
        """Another member of the same bucket, drawn from (seed, epoch, slot's sample, attempt): reproducible."""
        members = self.members[bucket]
        rng = np.random.default_rng([self.seed, 5, epoch, slot, original, attempt])
        return members[int(rng.integers(len(members)))]
