"""The training data loader: manifest rows in, batches of one bucket each out, resumable.

    loader = build_loader(cfg.data, rows, temporal_factor=4, spatial_multiple=16)
    for batch in loader:          # {"video": (B, 3, T, H, W), "text", "path", "bucket"}
        ...
        state = loader.state_dict()   # saved with a checkpoint; load_state_dict(state) resumes there

It iterates forever (epoch after epoch) unless given `epochs`. With `data.num_workers > 0` a torch
DataLoader decodes whole batches in worker processes; the plan, the replacements and the state are
the same as with 0 workers, so a run resumes identically whichever it used.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator

from patchflow.config import DataConfig
from patchflow.data.buckets import assign_buckets
from patchflow.data.dataset import BucketDataset
from patchflow.data.decode import decode_clip
from patchflow.data.probe import probe
from patchflow.data.sampler import (
    IMAGE_STREAM,
    VIDEO_STREAM,
    BucketBatchSampler,
    MixedSampler,
    distributed_rank_and_size,
)
from patchflow.media import MediaError

log = logging.getLogger("patchflow.data")

PUBLIC_KEYS = ("video", "text", "path", "bucket")


class TooManyDecodeFailures(RuntimeError):
    """More samples failed to decode than `data.max_skip_fraction` allows."""


class BucketLoader:
    def __init__(
        self, cfg: DataConfig, rows: list[dict], temporal_factor: int, spatial_multiple: int,
        rank: int | None = 0, world_size: int | None = 1, seed: int = 0, epochs: int | None = None,
        decode_fn: Callable = decode_clip,
    ):
        self.cfg = cfg
        rank, world_size = distributed_rank_and_size(rank, world_size)
        self.rows, unprobed = complete_rows(rows)
        members, self.dropped = assign_buckets(self.rows, cfg.buckets, cfg.fps, temporal_factor, spatial_multiple)
        self.dropped.update(unprobed)
        if self.dropped:
            log.warning("data: %d of %d samples fit no bucket: %s", sum(self.dropped.values()), len(rows),
                        dict(self.dropped))
        self.members = members
        self.batch_sizes = {b: b.batch_size(cfg.buckets, temporal_factor, spatial_multiple) for b in members}
        images = {b: idx for b, idx in members.items() if b.is_image}
        videos = {b: idx for b, idx in members.items() if not b.is_image}
        self.sampler = MixedSampler(
            BucketBatchSampler(images, self.batch_sizes, IMAGE_STREAM, rank, world_size, seed),
            BucketBatchSampler(videos, self.batch_sizes, VIDEO_STREAM, rank, world_size, seed),
            cfg.image_ratio, seed=seed, epochs=epochs,
        )
        self.dataset = BucketDataset(self.rows, members, cfg.fps, seed, cfg.decode_timeout_s, decode_fn,
                                     cfg.prompt_ratio)
        self.attempted = 0  # samples tried (failed tries included)
        self.skipped = 0  # tries that failed and were replaced
        self.recent_failures: list[tuple[str, str]] = []
        self._consumed_state: dict | None = None  # sampler state after the last batch handed out

    def __iter__(self) -> Iterator[dict]:
        if self._consumed_state is not None:
            self.sampler.load_state_dict(self._consumed_state)  # workers may have run ahead last time
        for batch in self._batches():
            self._account(batch)
            yield {key: batch[key] for key in PUBLIC_KEYS}

    def _batches(self) -> Iterator[dict]:
        if self.cfg.num_workers <= 0:
            for plan in self.sampler:
                yield self.dataset.load_batch(plan)
            return
        from torch.utils.data import DataLoader

        # Each item of the "sampler" is a whole BatchPlan; a worker turns it into a whole batch.
        workers = DataLoader(self.dataset, sampler=self.sampler, batch_size=None,
                             num_workers=self.cfg.num_workers, collate_fn=_as_is)
        yield from workers

    def _account(self, batch: dict) -> None:
        failures = batch["failures"]
        self.attempted += len(batch["path"]) + len(failures)
        self.skipped += len(failures)
        self._consumed_state = batch["state"]
        for path, reason in failures:
            log.warning("data: replaced %s (%s)", path, reason)
        self.recent_failures = (self.recent_failures + list(failures))[-5:]
        fraction = self.skipped / max(1, self.attempted)
        if self.attempted >= self.cfg.skip_check_after and fraction > self.cfg.max_skip_fraction:
            examples = "; ".join(f"{p}: {r}" for p, r in self.recent_failures)
            raise TooManyDecodeFailures(
                f"stopping: {self.skipped} of {self.attempted} samples ({fraction:.1%}) failed to decode, more "
                f"than data.max_skip_fraction={self.cfg.max_skip_fraction}. Recent failures: {examples}. "
                "Re-run `patchflow data scan` to drop bad files (they are listed in MANIFEST.rejected.jsonl), "
                "or raise data.max_skip_fraction."
            )

    def __len__(self) -> int:
        """Batches per epoch of the main stream on this rank."""
        return len(self.sampler)

    def buckets(self) -> dict[str, tuple[int, int]]:
        """{bucket key: (samples, batch size)} for logs."""
        return {b.key: (len(idx), self.batch_sizes[b]) for b, idx in self.members.items()}

    def state_dict(self) -> dict:
        return {
            "sampler": self._consumed_state or self.sampler.state_dict(),
            "attempted": self.attempted, "skipped": self.skipped,
        }

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self._consumed_state = state["sampler"]
        self.attempted, self.skipped = state["attempted"], state["skipped"]


def _as_is(batch: dict) -> dict:
    return batch  # batches come whole from the dataset: nothing to collate


def complete_rows(rows: list[dict]) -> tuple[list[dict], Counter]:
    """Rows with size, frames and fps (probing those that lack them, e.g. an HF metadata.jsonl)."""
    needed = ("num_frames", "height", "width", "fps")
    complete, unprobed = [], Counter()
    for row in rows:
        if all(row.get(key) is not None for key in needed):
            complete.append(row)
            continue
        try:
            complete.append({**row, **probe(row["path"])})
        except MediaError as e:
            log.warning("data: dropped %s: %s", row["path"], e)
            unprobed["cannot probe"] += 1
    return complete, unprobed


def build_loader(
    data_cfg: DataConfig, rows: list[dict], temporal_factor: int, spatial_multiple: int,
    rank: int | None = 0, world_size: int | None = 1, seed: int = 0, epochs: int | None = None,
    decode_fn: Callable = decode_clip,
) -> BucketLoader:
    """A resumable iterable of one-bucket batches (see the module docstring); rank/world_size None = from torch.distributed."""
    return BucketLoader(data_cfg, rows, temporal_factor, spatial_multiple, rank, world_size, seed, epochs, decode_fn)
