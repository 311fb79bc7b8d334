"""Which samples go into which batch, on which rank, in which order: a plan that can resume exactly.

`BucketBatchSampler` plans one stream (the image buckets, or the video buckets): each epoch it
shuffles every bucket with a seed of its own (seed, stream, epoch), cuts it into batches of the
bucket's size (the last one filled up from the bucket's start), shuffles the batches, pads the list by repeating its first batches to a multiple of
`world_size` (so every rank takes the same number of steps and no collective waits forever) and
deals batch k to rank k % world_size. `MixedSampler` interleaves the image and video streams,
drawing an image batch with probability `image_ratio` at each step (the same draw on every rank).

Both are pure functions of (seed, epoch, position): `state_dict()` stores those few numbers, and a
sampler loaded with them continues with exactly the batch a straight run would have given next.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from patchflow.data.buckets import Bucket

IMAGE_STREAM, VIDEO_STREAM = 0, 1


@dataclass(frozen=True)
class BatchPlan:
    """One batch to load: its bucket, row indices, the epoch they come from; `state` = sampler state after it."""

    bucket: Bucket
    indices: tuple[int, ...]
    epoch: int
    state: dict


def distributed_rank_and_size(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """Given values win; else torch.distributed's when it is initialised; else a single process."""
    if rank is not None and world_size is not None:
        return rank, world_size
    from patchflow.parallel import mesh  # the one place that talks to torch.distributed

    return mesh.rank(), mesh.world_size()


class BucketBatchSampler:
    """One stream's batches for one rank, epoch after epoch."""

    def __init__(
        self, members: dict[Bucket, list[int]], batch_sizes: dict[Bucket, int], stream: int,
        rank: int = 0, world_size: int = 1, seed: int = 0,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.members, self.batch_sizes, self.stream = members, batch_sizes, stream
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch, self.position = 0, 0  # position = batches this rank has taken in this epoch
        self._plan: list[tuple[Bucket, tuple[int, ...]]] | None = None

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return len(self._epoch_plan())

    @property
    def empty(self) -> bool:
        return not any(self.members.values())

    def _epoch_plan(self) -> list[tuple[Bucket, tuple[int, ...]]]:
        if self._plan is None:
            rng = np.random.default_rng([self.seed, self.stream, self.epoch])
            batches = []
            for bucket, indices in self.members.items():  # buckets in sorted order: same on every rank
                size = self.batch_sizes[bucket]
                shuffled = [indices[i] for i in rng.permutation(len(indices))]
                # The last batch is filled up from the bucket's start: every batch of a bucket has one
                # size (steady memory, static shapes for compile) at the cost of a few repeats per epoch.
                full = -(-len(shuffled) // size) * size
                shuffled = list(itertools.islice(itertools.cycle(shuffled), full))
                batches += [(bucket, tuple(shuffled[i: i + size])) for i in range(0, len(shuffled), size)]
            batches = [batches[i] for i in rng.permutation(len(batches))]
            padded = -(-len(batches) // self.world_size) * self.world_size
            batches = list(itertools.islice(itertools.cycle(batches), padded))
            self._plan = batches[self.rank:: self.world_size]
        return self._plan

    def next_batch(self) -> tuple[Bucket, tuple[int, ...], int]:
        """(bucket, row indices, epoch) of the next batch; rolls over into the next epoch."""
        if self.empty:
            raise ValueError("this stream has no samples")
        plan = self._epoch_plan()
        if self.position >= len(plan):
            self.epoch, self.position, self._plan = self.epoch + 1, 0, None
            plan = self._epoch_plan()
        bucket, indices = plan[self.position]
        epoch = self.epoch
        self.position += 1
        return bucket, indices, epoch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "rank": self.rank, "world_size": self.world_size}

    def load_state_dict(self, state: dict) -> None:
        if (state["seed"], state["rank"], state["world_size"]) != (self.seed, self.rank, self.world_size):
            raise ValueError(
                f"sampler state is for seed {state['seed']}, rank {state['rank']} of {state['world_size']}; "
                f"this sampler is seed {self.seed}, rank {self.rank} of {self.world_size}"
            )
        self.epoch, self.position, self._plan = state["epoch"], state["position"], None


class MixedSampler:
    """Image and video batches interleaved at `image_ratio`; iterates forever or for `epochs` epochs.

    An epoch here is one of the main stream: videos when there are any (and image_ratio < 1), else
    images. The other stream runs through its own epochs as often as the ratio asks.
    """

    def __init__(self, images: BucketBatchSampler, videos: BucketBatchSampler, image_ratio: float,
                 seed: int = 0, epochs: int | None = None):
        if not 0.0 <= image_ratio <= 1.0:
            raise ValueError(f"data.image_ratio must be in [0, 1], got {image_ratio}")
        if images.empty and videos.empty:
            raise ValueError("no sample fits any bucket: nothing to load")
        self.images, self.videos, self.image_ratio = images, videos, image_ratio
        self.seed, self.epochs, self.step = seed, epochs, 0
        self.main = images if videos.empty or image_ratio >= 1.0 else videos

    def _pick(self) -> BucketBatchSampler:
        if self.images.empty or self.videos.empty:
            return self.videos if self.images.empty else self.images
        # One draw per step from (seed, step): every rank picks the same kind at the same step.
        draw = np.random.default_rng([self.seed, 2, self.step]).random()
        return self.images if draw < self.image_ratio else self.videos

    def __iter__(self) -> Iterator[BatchPlan]:
        while True:
            if self.epochs is not None and self._main_finished(self.main):
                return
            stream = self._pick()
            bucket, indices, epoch = stream.next_batch()
            self.step += 1
            yield BatchPlan(bucket, indices, epoch, self.state_dict())

    def _main_finished(self, stream: BucketBatchSampler) -> bool:
        """True once the main stream's next batch would open epoch number `epochs`."""
        done = stream.epoch + (1 if stream.position >= len(stream) else 0)
        return done >= self.epochs

    def __len__(self) -> int:
        """Batches of the main stream per epoch on this rank (the other stream adds its share)."""
        return len(self.main)

    def state_dict(self) -> dict:
        return {"step": self.step, "images": self.images.state_dict(), "videos": self.videos.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.step = state["step"]
        self.images.load_state_dict(state["images"])
        self.videos.load_state_dict(state["videos"])
